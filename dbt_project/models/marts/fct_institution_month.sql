-- One row per institution and month of the live batches: native quantities, kgce, kgCO2 and the upload.
select * from {{ ref('int_institution_month') }}
