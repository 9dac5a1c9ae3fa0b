"""Data in and out: importing an office's historical cases, exporting cases, the interchange format.

- :mod:`intake.interchange.readers`: CSV, XLSX and JSON Lines files, row by row;
- :mod:`intake.interchange.mapping`: the column mapping (and the default for a 信访登记表);
- :mod:`intake.interchange.records`: a row → a case to file, or its row, column and reason;
- :mod:`intake.interchange.importer`: the idempotent, resumable import through the pipeline;
- :mod:`intake.interchange.exporter`: CSV, XLSX and JSON Lines out, never identity;
- ``case.schema.json``: the JSON Schema of the interchange format (docs/data.md).
"""
