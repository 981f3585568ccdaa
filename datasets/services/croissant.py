"""Metadata documents about a version for other tools: Croissant 1.0 (ML Commons) JSON-LD, and
the schema.org Dataset that the dataset page embeds for search engines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.urls import reverse

from datasets.models import DATASET_PAGE, VERSION_DOWNLOAD_API, VERSION_PAGE, Dataset, Version

CROISSANT_1_0 = "http://mlcommons.org/croissant/1.0"
# The @context of Croissant 1.0, as the specification and its reference library write it.
CROISSANT_CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
# Granary's logical types as schema.org / Croissant data types.
DATA_TYPES = {
    "integer": "sc:Integer",
    "float": "sc:Float",
    "decimal": "sc:Float",
    "boolean": "sc:Boolean",
    "string": "sc:Text",
    "date": "sc:Date",
    "timestamp": "sc:DateTime",
    "timestamp with zone": "sc:DateTime",
    "time": "sc:Time",
}
_ENCODINGS = {
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "jsonl": "application/jsonlines",
    "parquet": "application/x-parquet",
}
RECORDS = "records"
PARQUET_FILE = "parquet-copy"
ORIGINAL_FILE = "original-file"

Absolute = Callable[[str], str]


def _urls(version: Version, absolute: Absolute) -> dict[str, str]:
    args = [version.dataset.slug, version.number]
    download = absolute(reverse(VERSION_DOWNLOAD_API, args=args))
    return {
        "page": absolute(reverse(VERSION_PAGE, args=args)),
        "dataset_page": absolute(reverse(DATASET_PAGE, args=[version.dataset.slug])),
        "original": download,
        "parquet": f"{download}?format=parquet",
    }


def _creator(dataset: Dataset) -> dict[str, Any]:
    return {"@type": "sc:Organization", "name": dataset.team.name or dataset.team.slug}


def _license(dataset: Dataset) -> str | None:
    if not dataset.license:
        return None
    if dataset.license.startswith(("http://", "https://")):
        return dataset.license
    return f"https://spdx.org/licenses/{dataset.license}.html"


def version_croissant(*, version: Version, absolute: Absolute) -> dict[str, Any]:
    """Croissant 1.0 JSON-LD for one ready version: its files (the original as uploaded and the
    normalized Parquet copy, each with URL and sha256) and one RecordSet of its rows whose fields
    are the version's columns, read from the Parquet copy (every format Granary accepts has one,
    with the column names and types of the schema)."""
    dataset = version.dataset
    urls = _urls(version, absolute)
    original_format = "application/gzip" if version.compression == "gzip" else _ENCODINGS.get(version.format)
    distribution: list[dict[str, Any]] = [
        {
            "@type": "cr:FileObject",
            "@id": ORIGINAL_FILE,
            "name": ORIGINAL_FILE,
            "description": f"The file as uploaded ({version.original_filename or 'no name given'}).",
            "contentUrl": urls["original"],
            "contentSize": f"{version.size} B",
            "encodingFormat": original_format or "application/octet-stream",
            "sha256": version.sha256,
        }
    ]
    record_sets = []
    if version.parquet_blob is not None:
        distribution.append(
            {
                "@type": "cr:FileObject",
                "@id": PARQUET_FILE,
                "name": PARQUET_FILE,
                "description": "The normalized copy (Parquet, zstd): the same rows and columns.",
                "contentUrl": urls["parquet"],
                "contentSize": f"{version.parquet_blob.size} B",
                "encodingFormat": _ENCODINGS["parquet"],
                "sha256": version.parquet_blob.sha256,
            }
        )
        record_sets.append(
            {
                "@type": "cr:RecordSet",
                "@id": RECORDS,
                "name": RECORDS,
                "description": f"The {version.row_count} rows of {version.ref}.",
                "field": [_field(column) for column in version.schema],
            }
        )
    document: dict[str, Any] = {
        "@context": CROISSANT_CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CROISSANT_1_0,
        "name": dataset.slug,
        "alternateName": dataset.title,
        "description": dataset.summary or dataset.title,
        "url": urls["page"],
        "sameAs": urls["dataset_page"],
        "version": f"{version.number}.0.0",
        "datePublished": version.created_at.isoformat(),
        "creator": _creator(dataset),
        "keywords": [tag.name for tag in dataset.tags.all()],
        "isLiveDataset": False,
        "citeAs": f"{dataset.title}, version {version.number} (sha256:{version.sha256}). {urls['page']}",
        "distribution": distribution,
        "recordSet": record_sets,
    }
    license_url = _license(dataset)
    if license_url:
        document["license"] = license_url
    if version.message:
        document["description"] += f"\n\nVersion {version.number}: {version.message}"
    return document


def _field(column: dict[str, Any]) -> dict[str, Any]:
    kind = column["type"]
    repeated = kind.startswith("list<") and kind.endswith(">")
    element = kind[5:-1] if repeated else kind
    field: dict[str, Any] = {
        "@type": "cr:Field",
        "@id": f"{RECORDS}/{column['name']}",
        "name": column["name"],
        # Nested structures have no Croissant 1.0 scalar type: they are described as text.
        "dataType": DATA_TYPES.get(element, "sc:Text"),
        "source": {"fileObject": {"@id": PARQUET_FILE}, "extract": {"column": column["name"]}},
    }
    if repeated and element in DATA_TYPES:
        field["repeated"] = True
    description = f"{kind}, {'nullable' if column.get('nullable') else 'never null'}"
    field["description"] = description
    return field


def dataset_schema_org(*, dataset: Dataset, version: Version | None, absolute: Absolute) -> dict[str, Any]:
    """schema.org Dataset JSON-LD for the dataset page (what search engines and Google Dataset
    Search read): the card, and the newest ready version's files when there is one."""
    document: dict[str, Any] = {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "name": dataset.title,
        "alternateName": dataset.slug,
        "description": dataset.summary or dataset.title,
        "url": absolute(reverse(DATASET_PAGE, args=[dataset.slug])),
        "creator": {"@type": "Organization", "name": dataset.team.name or dataset.team.slug},
        "keywords": [tag.name for tag in dataset.tags.all()],
        "dateModified": dataset.updated_at.isoformat(),
    }
    license_url = _license(dataset)
    if license_url:
        document["license"] = license_url
    if version is not None:
        urls = _urls(version, absolute)
        document["version"] = str(version.number)
        document["distribution"] = [
            {
                "@type": "DataDownload",
                "contentUrl": urls["original"],
                "encodingFormat": _ENCODINGS.get(version.format, "application/octet-stream"),
                "contentSize": f"{version.size} B",
                "sha256": version.sha256,
            }
        ]
        if version.row_count is not None:
            document["variableMeasured"] = [column["name"] for column in version.schema]
    return document
