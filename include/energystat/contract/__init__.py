"""The upload contract every stage reads: forms, file and folder names, upload kinds and statuses, findings.

Modules here import nothing from the project; everything else (parser, rules, COPY column lists, reports,
`check`, the template writer, the generator, the dbt tests) reads these definitions instead of spelling them.
"""
