-- The indexes of risks in register order carry the partition slot, so that
-- counting the risks of a page (all of them, or the RED ones) is an
-- index-only scan: the views filter on slot, and without it in the index
-- every counted risk was read from the table.
DROP INDEX rm_risks_gen_order_idx;
CREATE INDEX rm_risks_gen_order_idx ON rm_risks_gen (generation, length(reference), reference, risk_id) INCLUDE (slot);
DROP INDEX rm_risks_gen_red_idx;
CREATE INDEX rm_risks_gen_red_idx ON rm_risks_gen (generation, length(reference), reference, risk_id) INCLUDE (slot)
    WHERE band = 'RED';
