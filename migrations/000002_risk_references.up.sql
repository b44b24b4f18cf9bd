-- Human references of risks ("R-0007") are numbered from this sequence when a
-- risk is registered. A number taken by a registration that then fails is not
-- reused: references are unique, not dense.
CREATE SEQUENCE risk_reference_seq AS bigint START 1;
