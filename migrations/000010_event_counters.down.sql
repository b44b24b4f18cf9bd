CREATE SEQUENCE risk_reference_seq AS bigint START 1;
SELECT setval('risk_reference_seq', value) FROM event_counters WHERE name = 'risk-reference' AND value > 0;
DROP TABLE event_counters;
