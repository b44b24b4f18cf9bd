-- The list of every strategic response (the web console's responses page)
-- reads them in the order they were proposed.
CREATE INDEX rm_responses_gen_position_idx ON rm_responses_gen (generation, created_position);
