"""Nightly ingestion, one module per stage of the road a landing file travels (docs/architecture.md).

    landing  discover files under <reporter>/<YYYY-MM>/, hash them, move rejected ones out
    parse    read cells into a frame of raw columns (ParsedUpload)
    validate context from the warehouse, enrichment, one GX run per kind (ValidationReport)
    load     upload log, COPY into raw, supersede the older live upload, the registry
    report   HTML, JSON and marked workbook of a validation, for the city statistician
    alert    messages to data-governance staff
    run      the stages in order: what the DAG tasks and `energystat ingest` call

Each stage imports only the stages before it.
"""
