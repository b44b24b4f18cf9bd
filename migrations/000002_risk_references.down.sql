DROP SEQUENCE risk_reference_seq;
