-- Runs once, when the `postgres` service initialises an empty data volume (docker-entrypoint-initdb.d).
-- The server's own database (POSTGRES_DB = airflow) holds Airflow's metadata; the warehouse gets its own
-- database, as with the embedded server (energystat.warehouse.WAREHOUSE_DB). Schemas, tables and the
-- analyst role are created later by `energystat warehouse migrate` (service airflow-init), not here.
CREATE DATABASE energystat;
