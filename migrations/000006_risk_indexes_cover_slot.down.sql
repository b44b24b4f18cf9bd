DROP INDEX rm_risks_gen_order_idx;
CREATE INDEX rm_risks_gen_order_idx ON rm_risks_gen (generation, length(reference), reference, risk_id);
DROP INDEX rm_risks_gen_red_idx;
CREATE INDEX rm_risks_gen_red_idx ON rm_risks_gen (generation, length(reference), reference, risk_id) WHERE band = 'RED';
