-- The responses query reads a page of the calendar's responses in the order
-- they were proposed: without this index every page sorted them all.
CREATE INDEX rm_cal_responses_gen_position_idx ON rm_cal_responses_gen (generation, created_position);
