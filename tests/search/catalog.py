"""A fixture catalog for the search tests: 51 real-looking datasets of nine teams, built as rows.

Each dataset has a title, summary, tags, licence, a Markdown README and a latest ready version
whose schema has realistic columns (some documented, some flagged PII); a few have an older
version with other columns, or a newer one still processing, whose columns search must ignore.
Visibilities are mixed (public, internal, restricted), some latest versions are certified (one
is failing), and checkouts make popularity differ. Nothing goes through ingest: the versions are
written as ingest leaves them, which keeps the whole catalog under a second to build.

The wording is chosen for the relevance tests (tests/search/test_relevance.py): which dataset
mentions which word, and where, is part of what they assert, so change a text here only with
them in view.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.models import Membership, Team
from core.types import SchemaColumn
from datasets.models import Blob, Checkout, CheckoutItem, ColumnDoc, Dataset, Tag, Version
from datasets.services.summary import dataset_summary_refresh
from search.indexer import search_rebuild
from tests.conftest import built_once

PUBLIC = Dataset.Visibility.PUBLIC
INTERNAL = Dataset.Visibility.INTERNAL
RESTRICTED = Dataset.Visibility.RESTRICTED

# Logical type letters of the column lists below, and the Arrow type ingest would record.
TYPES = {
    "i": ("integer", "int64"),
    "f": ("float", "double"),
    "s": ("string", "string"),
    "b": ("boolean", "bool"),
    "d": ("date", "date32[day]"),
    "t": ("timestamp", "timestamp[us]"),
}

TEAMS = {
    "climate": "Climate Science",
    "ecology": "Ecology Lab",
    "vision": "Computer Vision",
    "nlp": "Language Technology",
    "commerce": "Commerce Analytics",
    "finance": "Risk and Fraud",
    "health": "Health Research",
    "mobility": "Urban Mobility",
    "energy": "Energy Systems",
}

# The personas: (username, team, role). `otto` and `gina` belong to no team; gina is the one an
# owner grants access to in the visibility tests.
PEOPLE = [
    ("otto", None, None),
    ("gina", None, None),
    ("wendy", "climate", Membership.Role.MEMBER),
    ("carla", "commerce", Membership.Role.MEMBER),
    ("nils", "nlp", Membership.Role.MEMBER),
    ("hugo", "health", Membership.Role.OWNER),
    ("fiona", "finance", Membership.Role.MAINTAINER),
    ("maya", "mobility", Membership.Role.OWNER),
]


@dataclass(frozen=True)
class Spec:
    slug: str
    team: str
    title: str
    summary: str
    tags: tuple[str, ...]
    license: str
    columns: str  # "name:type name:type ...", type letters as in TYPES
    readme: str = ""
    visibility: str = PUBLIC
    format: str = "parquet"
    rows: int = 10_000
    docs: dict[str, tuple[str, bool]] = field(default_factory=dict)  # column: (description, pii)
    quality: str | None = None  # the latest version's quality_status: "passed" makes it certified
    checkouts: int = 0  # in the last 90 days
    old_checkouts: int = 0  # about 200 days ago: counted ever, not in the last 90 days
    updated: str = "2026-11-02"  # when the card was edited and the latest version became ready
    older: str = ""  # the columns of a first, older ready version ("" when there is only one)
    processing: bool = False  # a newer version is still being ingested (it has no schema yet)
    status: str = Dataset.Status.ACTIVE


def readme(*paragraphs: str) -> str:
    return "\n\n".join(paragraphs) + "\n"


SPECS: list[Spec] = [
    # --- climate ---------------------------------------------------------------------------
    Spec(
        slug="weather-stations",
        team="climate",
        title="Weather station observations",
        summary="Hourly observations from 1,200 automatic stations: temperature, humidity, wind and pressure.",
        tags=("weather", "climate", "time-series"),
        license="CC-BY-4.0",
        columns=(
            "station_id:s observed_at:t temp_max:f temp_min:f temp_mean:f dew_point:f "
            "relative_humidity:f wind_speed:f wind_gust:f wind_direction:i pressure_hpa:f "
            "precipitation_mm:f snow_depth_cm:f visibility_km:f cloud_cover:i latitude:f "
            "longitude:f elevation_m:f"
        ),
        older="station_id:s observed_at:t tmax:f tmin:f dew_point:f wind_speed:f pressure_hpa:f",
        docs={
            "temp_max": ("Highest air temperature of the hour, degrees Celsius", False),
            "temp_min": ("Lowest air temperature of the hour, degrees Celsius", False),
            "dew_point": ("Dew point temperature, degrees Celsius", False),
            "station_id": ("WMO station identifier", False),
        },
        readme=readme(
            "# Weather station observations",
            "Hourly records of the **Integrated Surface Database** (NOAA ISD), cleaned of duplicate "
            "reports and converted to SI units. Stations with fewer than 300 days a year are left out.",
            "## Loading\n\n```python\nimport xarray as xr\nds = xr.open_dataset('stations.parquet')\n```",
            "Questions go to the [climate team](https://wiki.example.org/climate).",
        ),
        rows=8_760_000,
        quality="passed",
        checkouts=3,
        updated="2026-11-20",
    ),
    Spec(
        slug="seattle-weather",
        team="climate",
        title="Seattle weather",
        summary="Daily weather in Seattle from 2012 to 2015: rain, temperature, wind and a one-word label.",
        tags=("weather", "time-series", "tutorial"),
        license="BSD-3-Clause",
        columns="date:d precipitation:f temp_max:f temp_min:f wind:f weather:s",
        docs={
            "precipitation": ("Rain and melted snow, millimetres", False),
            "weather": ("drizzle, rain, sun, snow or fog", False),
        },
        readme=readme(
            "# Seattle weather",
            "Four years of daily observations at Seattle-Tacoma airport, as published in the "
            "[vega-datasets](https://github.com/vega/vega-datasets) collection. The charts of our "
            "tutorials are drawn from it with *Vega-Lite*.",
            "A small, friendly table for teaching time series and classification.",
        ),
        format="csv",
        rows=1_461,
        quality="passed",
        checkouts=12,
        updated="2026-06-15",
    ),
    Spec(
        slug="global-precipitation",
        team="climate",
        title="Global precipitation grids",
        summary="Monthly rainfall on a 2.5 degree grid from satellites and gauges, 1979 onward.",
        tags=("climate", "raster"),
        license="CC-BY-4.0",
        columns="month:d lat:f lon:f precip_mm_day:f error_estimate:f gauge_count:i",
        docs={"precip_mm_day": ("Mean rainfall rate of the month, mm per day", False)},
        readme=readme(
            "# Global precipitation grids",
            "The GPCP monthly product v2.3, reshaped to one row per grid cell and month.",
        ),
        rows=4_147_200,
        checkouts=1,
        updated="2026-03-01",
    ),
    Spec(
        slug="sea-surface-temperature",
        team="climate",
        title="Sea surface temperature anomalies",
        summary="Weekly ocean surface temperature and its anomaly against 1991-2020, on a one degree grid.",
        tags=("climate", "ocean"),
        license="CC0-1.0",
        columns="week:d lat:f lon:f sst_c:f anomaly_c:f ice_fraction:f",
        readme=readme(
            "# Sea surface temperature",
            "From NOAA OISST v2.1. Anomalies use the 1991-2020 climatology.",
        ),
        rows=2_300_000,
        updated="2026-09-10",
    ),
    Spec(
        slug="air-quality",
        team="climate",
        title="Urban air quality",
        summary="Hourly pollutant concentrations from 400 city monitoring sites.",
        tags=("air-quality", "pollution", "time-series"),
        license="ODbL-1.0",
        columns="site_id:s measured_at:t pm2_5:f pm10:f no2:f o3:f so2:f co:f aqi:i",
        docs={
            "no2": ("Nitrogen dioxide, micrograms per cubic metre", False),
            "aqi": ("Air quality index, 0 to 500", False),
        },
        readme=readme(
            "# Urban air quality",
            "Merged from the EEA's AirBase and OpenAQ. Values below the detection limit are null.",
        ),
        rows=12_000_000,
        checkouts=2,
        updated="2026-10-20",
    ),
    Spec(
        slug="wildfire-perimeters",
        team="climate",
        title="Wildfire perimeters (draft)",
        summary="Burned area outlines of the season's fires, mapped from satellite imagery.",
        tags=("wildfire", "geospatial"),
        license="",
        columns="fire_id:s start_date:d area_ha:f geometry_wkt:s cause:s",
        readme=readme("# Wildfire perimeters", "Work in progress: outlines are redrawn weekly."),
        visibility=INTERNAL,
        rows=8_400,
        updated="2026-11-25",
    ),
    # --- ecology ---------------------------------------------------------------------------
    Spec(
        slug="palmer-penguins",
        team="ecology",
        title="Palmer Archipelago penguins",
        summary="Bill, flipper and body mass measurements of 344 penguins of three species, 2007-2009.",
        tags=("biology", "tutorial", "classification"),
        license="CC0-1.0",
        columns=(
            "species:s island:s bill_length_mm:f bill_depth_mm:f flipper_length_mm:f body_mass_g:f sex:s year:i"
        ),
        docs={
            "species": ("Adelie, Chinstrap or Gentoo", False),
            "body_mass_g": ("Body mass in grams", False),
        },
        readme=readme(
            "# Palmer penguins",
            "Collected by Dr. Kristen Gorman at Palmer Station, Antarctica (LTER). The "
            "`palmerpenguins` R package made it popular as an alternative to iris.",
        ),
        format="tsv",
        rows=344,
        quality="passed",
        checkouts=6,
        updated="2026-05-04",
    ),
    Spec(
        slug="iris",
        team="ecology",
        title="Iris flower measurements",
        summary="Sepal and petal sizes of 150 irises of three species: the classic classification table.",
        tags=("biology", "tutorial", "classification"),
        license="CC0-1.0",
        columns="sepal_length:f sepal_width:f petal_length:f petal_width:f species:s",
        readme=readme("# Iris", "Fisher's 1936 table, from the UCI Machine Learning Repository."),
        format="csv",
        rows=150,
        checkouts=5,
        updated="2025-12-01",
    ),
    Spec(
        slug="seabird-counts",
        team="ecology",
        title="Seabird colony counts",
        summary="Annual counts of nesting seabirds on Antarctic and sub-Antarctic islands.",
        tags=("biology", "ecology"),
        license="CC-BY-4.0",
        columns="colony_id:s species:s season:i nests:i observer:s",
        readme=readme(
            "# Seabird colony counts",
            "Petrels, albatrosses and skuas. Penguins are counted by another survey and are not here.",
        ),
        format="csv",
        rows=52_000,
        updated="2026-02-14",
    ),
    Spec(
        slug="bird-migration",
        team="ecology",
        title="Bird migration tracks",
        summary="GPS fixes of 120 tagged storks and gulls on their yearly migrations.",
        tags=("biology", "geospatial"),
        license="CC0-1.0",
        columns="bird_id:s species:s ts:t lat:f lon:f altitude_m:f speed_kmh:f",
        readme=readme("# Bird migration", "From Movebank study 2911040."),
        rows=3_100_000,
        updated="2026-07-07",
    ),
    Spec(
        slug="tree-census",
        team="ecology",
        title="Street tree census",
        summary="Every street tree of the city: species, trunk diameter and health.",
        tags=("urban", "biology"),
        license="CC0-1.0",
        columns=("tree_id:i species_latin:s species_common:s diameter_cm:f health:s borough:s lat:f lon:f"),
        readme=readme("# Street tree census", "Volunteers measured each tree in the 2025 census."),
        format="csv",
        rows=683_788,
        updated="2026-01-30",
    ),
    # --- vision ----------------------------------------------------------------------------
    Spec(
        slug="imagenet-labels",
        team="vision",
        title="ImageNet class labels",
        summary="The 1,000 ILSVRC-2012 classes with their WordNet ids, and one label per training image.",
        tags=("vision", "classification", "labels"),
        license="LicenseRef-ImageNet",
        columns="image_id:s wnid:s class_index:i class_name:s split:s width:i height:i",
        docs={"wnid": ("WordNet synset id, e.g. n01440764", False)},
        readme=readme(
            "# ImageNet labels",
            "Labels only: the images themselves stay in the object store under the ImageNet terms of access.",
        ),
        rows=1_281_167,
        quality="passed",
        checkouts=9,
        updated="2026-08-08",
    ),
    Spec(
        slug="coco-captions",
        team="vision",
        title="COCO image captions",
        summary="Five human-written captions for each of 123,287 COCO images.",
        tags=("vision", "nlp", "captions"),
        license="CC-BY-4.0",
        columns="image_id:i caption_id:i caption:s file_name:s split:s annotator_id:s",
        readme=readme(
            "# COCO captions",
            "The 2017 train and val splits of the Microsoft COCO caption annotations.",
        ),
        format="jsonl",
        rows=616_767,
        checkouts=4,
        updated="2026-04-22",
    ),
    Spec(
        slug="coco-boxes",
        team="vision",
        title="COCO object detection boxes",
        summary="Bounding boxes of 80 object categories in 118,000 images.",
        tags=("vision", "detection"),
        license="CC-BY-4.0",
        columns=(
            "image_id:i annotation_id:i category_id:i category_name:s bbox_x:f bbox_y:f bbox_w:f "
            "bbox_h:f area:f iscrowd:b"
        ),
        readme=readme("# COCO boxes", "Instances of the 2017 detection challenge."),
        format="jsonl",
        rows=860_001,
        checkouts=2,
        updated="2026-04-22",
    ),
    Spec(
        slug="street-signs",
        team="vision",
        title="Street sign crops",
        summary="Cropped traffic signs from dash cameras, with their class.",
        tags=("vision", "classification"),
        license="",
        columns="crop_id:s sign_class:s city:s camera_id:s blur_score:f",
        readme=readme("# Street signs", "Crops from the fleet's cameras; not for use outside the team."),
        visibility=INTERNAL,
        rows=95_000,
        updated="2026-11-10",
    ),
    Spec(
        slug="face-attributes",
        team="vision",
        title="Face attribute labels",
        summary="Binary attributes of celebrity face images for attribute classifiers.",
        tags=("faces", "biometrics"),
        license="LicenseRef-CelebA",
        columns="image_id:s person_id:s smiling:b eyeglasses:b age_bucket:s",
        docs={"person_id": ("Identity of the person in the picture", True)},
        readme=readme("# Face attributes", "Derived from CelebA; identities are pseudonymous."),
        visibility=RESTRICTED,
        rows=202_599,
        updated="2026-03-03",
    ),
    # --- nlp -------------------------------------------------------------------------------
    Spec(
        slug="product-reviews",
        team="nlp",
        title="Product reviews with sentiment",
        summary="2.1 million marketplace reviews with their star rating and a sentiment label.",
        tags=("nlp", "sentiment", "reviews"),
        license="CC-BY-4.0",
        columns=(
            "review_id:s product_id:s customer_id:s stars:i review_title:s body:s sentiment:s "
            "language:s created_at:t helpful_votes:i"
        ),
        docs={
            "sentiment": ("positive, neutral or negative, from the stars and a classifier", False),
            "customer_id": ("Pseudonymous reviewer id", False),
        },
        readme=readme(
            "# Product reviews",
            "Reviews in English, German and French. Labels come from the star rating, checked by a "
            "fine-tuned XLM-R classifier where the two disagree.",
            "Use the Hugging Face `datasets` library to stream it.",
        ),
        rows=2_100_000,
        quality="passed",
        checkouts=11,
        updated="2026-10-05",
    ),
    Spec(
        slug="old-sentiment-corpus",
        team="nlp",
        title="Movie review sentiment corpus (deprecated)",
        summary="Short movie reviews labelled positive or negative; replaced by product-reviews.",
        tags=("nlp", "sentiment", "deprecated"),
        license="CC-BY-4.0",
        columns="text:s label:i source:s",
        readme=readme("# Movie reviews", "Kept for old experiments only."),
        format="csv",
        rows=10_662,
        status=Dataset.Status.DEPRECATED,
        updated="2025-11-11",
    ),
    Spec(
        slug="speech-transcripts",
        team="nlp",
        title="Call centre speech transcripts",
        summary="Transcripts and captions of 40,000 hours of recorded calls, aligned per utterance.",
        tags=("nlp", "speech", "audio"),
        license="",
        columns=("call_id:s utterance_id:i speaker:s start_s:f end_s:f transcript:s confidence:f language:s"),
        docs={"transcript": ("The words spoken, lower-cased, without punctuation", False)},
        readme=readme(
            "# Speech transcripts",
            "Transcribed with Whisper large-v3, then corrected by hand on a 2% sample.",
        ),
        format="jsonl",
        rows=9_800_000,
        checkouts=3,
        updated="2026-09-29",
    ),
    Spec(
        slug="news-headlines",
        team="nlp",
        title="News headlines 2010-2025",
        summary="Headlines of five national newspapers with section and date.",
        tags=("nlp", "news"),
        license="CC-BY-SA-4.0",
        columns="headline:s published_at:t outlet:s section:s url:s",
        readme=readme("# News headlines", "Scraped from the outlets' public RSS feeds."),
        rows=1_900_000,
        updated="2026-01-15",
    ),
    Spec(
        slug="wiki-paragraphs",
        team="nlp",
        title="Wikipedia paragraphs",
        summary="Clean paragraphs of English Wikipedia for language model pretraining.",
        tags=("nlp", "pretraining"),
        license="CC-BY-SA-4.0",
        columns="page_id:i page_title:s paragraph_index:i text:s lang:s",
        readme=readme("# Wikipedia paragraphs", "From the 2026-09-01 dump, parsed with mwparserfromhell."),
        rows=60_400_000,
        checkouts=1,
        updated="2026-09-05",
    ),
    Spec(
        slug="support-tickets",
        team="nlp",
        title="Customer support tickets",
        summary="Tickets sent to the help desk, with priority and whether they were resolved.",
        tags=("nlp", "support"),
        license="",
        columns="ticket_id:s created_at:t email:s subject:s body:s priority:s resolved:b",
        docs={"email": ("The help desk mailbox that received the ticket, not the customer's", False)},
        readme=readme("# Support tickets", "Bodies are redacted of names and phone numbers."),
        rows=480_000,
        updated="2026-08-30",
    ),
    Spec(
        slug="toxic-comments",
        team="nlp",
        title="Toxic comment labels",
        summary="Forum comments rated for toxicity, insults and threats by several annotators.",
        tags=("nlp", "moderation"),
        license="CC0-1.0",
        columns="comment_id:s text:s toxic:b severe_toxic:b insult:b threat:b",
        readme=readme("# Toxic comments", "Ratings are majority votes of five annotators."),
        format="csv",
        rows=159_571,
        updated="2026-02-02",
    ),
    Spec(
        slug="legal-clauses",
        team="nlp",
        title="Contract clauses (draft)",
        summary="Clauses of supplier contracts labelled by type, for a clause classifier.",
        tags=("nlp", "legal"),
        license="",
        columns="contract_id:s clause_index:i clause_text:s clause_type:s",
        readme=readme("# Contract clauses", "Labelled by the legal team; internal until reviewed."),
        visibility=INTERNAL,
        rows=33_000,
        updated="2026-11-18",
    ),
    # --- commerce --------------------------------------------------------------------------
    Spec(
        slug="retail-sales",
        team="commerce",
        title="Retail sales by store and day",
        summary="Units sold and revenue per store, product and day across 54 stores.",
        tags=("retail", "sales", "time-series"),
        license="CC-BY-4.0",
        columns="store_id:i date:d sku:s units_sold:i revenue:f promo:b region:s holiday:b",
        docs={"revenue": ("Gross revenue in euros, VAT included", False)},
        readme=readme(
            "# Retail sales",
            "From the point-of-sale system, aggregated nightly by the dbt job `sales_daily`.",
        ),
        rows=3_000_888,
        quality="passed",
        checkouts=7,
        updated="2026-11-01",
    ),
    Spec(
        slug="clickstream-events",
        team="commerce",
        title="Web clickstream events",
        summary="Page views and clicks on the web shop, one row per event, with the session.",
        tags=("web", "events", "analytics"),
        license="",
        columns=(
            "event_id:s session_id:s user_id:s ts:t page_url:s referrer:s event_type:s device:s country:s"
        ),
        processing=True,
        readme=readme(
            "# Clickstream",
            "Collected by Snowplow; bots are filtered by user agent and rate.",
        ),
        format="jsonl",
        rows=250_000_000,
        checkouts=3,
        updated="2026-11-15",
    ),
    Spec(
        slug="churn",
        team="commerce",
        title="Telecom subscriber churn",
        summary="One row per subscriber: tenure, plan, monthly charges and whether they left.",
        tags=("classification", "tabular"),
        license="CC-BY-4.0",
        columns=(
            "customer_id:s tenure_months:i contract:s monthly_charges:f total_charges:f payment_method:s left_company:b"
        ),
        readme=readme("# Telecom churn", "The IBM sample data, re-keyed."),
        format="csv",
        rows=7_043,
        checkouts=2,
        updated="2026-07-01",
    ),
    Spec(
        slug="churn-predictions",
        team="commerce",
        title="Churn predictions of the churn model",
        summary="Weekly churn scores for every active subscriber, with the churn reasons the model gives.",
        tags=("churn", "predictions"),
        license="",
        columns="customer_id:s week:d churn_score:f churn_reason:s model_version:s",
        readme=readme(
            "# Churn predictions",
            "Written by the churn model's weekly batch job. Churn scores above 0.7 go to the retention team.",
        ),
        rows=2_400_000,
        checkouts=8,
        updated="2026-11-23",
    ),
    Spec(
        slug="newsletter-subscribers",
        team="commerce",
        title="Newsletter subscribers",
        summary="Who signed up for the newsletter, when, and whether they still opt in.",
        tags=("marketing", "pii"),
        license="",
        columns="subscriber_id:s email:s first_name:s signup_date:d country:s opted_in:b",
        docs={
            "email": ("Subscriber's email address", True),
            "first_name": ("Given name, as typed", True),
        },
        readme=readme("# Newsletter subscribers", "Exported weekly from the mailing tool."),
        format="csv",
        rows=88_000,
        checkouts=1,
        updated="2026-10-12",
    ),
    Spec(
        slug="crm-contacts",
        team="commerce",
        title="CRM contacts",
        summary="Business contacts of the sales team with their company and last contact.",
        tags=("crm", "pii", "sales"),
        license="",
        columns="contact_id:s email:s phone:s company:s account_owner:s last_contacted:d",
        docs={
            "email": ("Work email of the contact", True),
            "phone": ("Phone number, E.164", True),
        },
        readme=readme("# CRM contacts", "Synced nightly from Salesforce."),
        visibility=INTERNAL,
        rows=41_000,
        checkouts=2,
        updated="2026-11-21",
    ),
    Spec(
        slug="loyalty-cards",
        team="commerce",
        title="Loyalty card sign-ups",
        summary="Store loyalty card sign-ups and the credit of points on each purchase.",
        tags=("retail", "loyalty"),
        license="",
        columns="card_id:s store_id:i signup_date:d points_credited:i tier:s",
        readme=readme("# Loyalty cards", "One row per card and purchase with points."),
        rows=1_200_000,
        updated="2026-06-06",
    ),
    Spec(
        slug="product-catalog",
        team="commerce",
        title="Product catalog",
        summary="Every product the shops sell: brand, category, price and weight.",
        tags=("retail",),
        license="",
        columns="sku:s product_name:s brand:s category:s price:f currency:s weight_g:i",
        readme=readme("# Product catalog", "Master data from the PIM."),
        format="csv",
        rows=64_000,
        updated="2026-11-05",
    ),
    Spec(
        slug="basket-transactions",
        team="commerce",
        title="Grocery basket transactions",
        summary="Items bought together in each basket, for market basket analysis.",
        tags=("retail", "market-basket"),
        license="CC-BY-4.0",
        columns="basket_id:s ts:t store_id:i sku:s quantity:i unit_price:f",
        readme=readme("# Baskets", "Anonymised receipts of 2025."),
        rows=18_000_000,
        updated="2026-04-01",
    ),
    # --- finance ---------------------------------------------------------------------------
    Spec(
        slug="credit-card-fraud",
        team="finance",
        title="Credit card fraud transactions",
        summary="284,807 card transactions by European cardholders over two days, 492 of them fraudulent.",
        tags=("fraud", "finance", "imbalanced"),
        license="DbCL-1.0",
        columns=(
            "time:f v1:f v2:f v3:f v4:f v5:f v6:f v7:f v8:f v9:f v10:f v11:f v12:f v13:f v14:f "
            "amount:f class:i"
        ),
        docs={
            "class": ("1 for fraud, 0 otherwise", False),
            "v1": ("First principal component of the anonymised features", False),
        },
        readme=readme(
            "# Credit card fraud",
            "The ULB Machine Learning Group's dataset. Features V1-V28 are PCA components; only 14 are kept.",
        ),
        format="csv",
        rows=284_807,
        quality="failed",
        checkouts=5,
        updated="2026-10-30",
    ),
    Spec(
        slug="loan-defaults",
        team="finance",
        title="Consumer loan defaults",
        summary="Personal loans with grade, term, interest rate and whether the borrower defaulted.",
        tags=("finance", "credit-risk"),
        license="CC0-1.0",
        columns="loan_id:s grade:s amount:f term_months:i interest_rate:f annual_income:f defaulted:b",
        readme=readme("# Loan defaults", "Lending Club loans issued 2015-2018."),
        rows=1_300_000,
        checkouts=1,
        updated="2026-05-20",
    ),
    Spec(
        slug="payroll-2026",
        team="finance",
        title="Payroll 2026",
        summary="Monthly salaries by employee and department.",
        tags=("hr", "pii"),
        license="",
        columns="employee_id:s full_name:s iban:s salary:f department:s month:d",
        docs={"full_name": ("Employee name", True), "iban": ("Bank account for salary payments", True)},
        readme=readme("# Payroll", "From the HR system; finance team only."),
        visibility=INTERNAL,
        rows=14_400,
        updated="2026-11-28",
    ),
    Spec(
        slug="fx-rates",
        team="finance",
        title="Daily FX rates",
        summary="Reference exchange rates of 30 currencies against the euro.",
        tags=("finance", "time-series"),
        license="CC0-1.0",
        columns="date:d base:s quote:s rate:f",
        readme=readme("# FX rates", "ECB reference rates, published each working day at 16:00 CET."),
        format="csv",
        rows=200_000,
        checkouts=2,
        updated="2026-11-27",
    ),
    Spec(
        slug="card-chargebacks",
        team="finance",
        title="Card chargebacks",
        summary="Disputed card payments and how each dispute ended.",
        tags=("chargebacks", "disputes"),
        license="LicenseRef-Internal",
        columns="chargeback_id:s transaction_id:s cardholder_email:s reason_code:s amount:f won:b",
        docs={"cardholder_email": ("Email of the cardholder who disputed", True)},
        readme=readme("# Chargebacks", "Exported from Adyen's dispute reports every night."),
        visibility=RESTRICTED,
        rows=22_000,
        checkouts=1,
        updated="2026-09-09",
    ),
    # --- health ----------------------------------------------------------------------------
    Spec(
        slug="patient-visits",
        team="health",
        title="Outpatient visits",
        summary="Visits to 14 outpatient clinics from 2019 to 2025.",
        tags=("clinical", "hospital"),
        license="LicenseRef-DUA",
        columns=("visit_id:s patient_id:s email:s visit_date:d clinic:s diagnosis_code:s length_minutes:i"),
        docs={
            "patient_id": ("Hospital patient number", True),
            "email": ("Patient's email for appointment reminders", True),
            "diagnosis_code": ("ICD-10 code of the main diagnosis", False),
        },
        readme=readme(
            "# Outpatient visits",
            "Extracted from the hospital's Epic Clarity warehouse in a MIMIC-like layout. "
            "Use needs an approved access request and the data use agreement.",
        ),
        visibility=RESTRICTED,
        rows=3_400_000,
        checkouts=2,
        updated="2026-10-01",
    ),
    Spec(
        slug="genomics-variants",
        team="health",
        title="Genome variants of the 1000 Genomes cohort",
        summary="Single-nucleotide variants and indels called per sample on GRCh38.",
        tags=("genomics", "bioinformatics"),
        license="LicenseRef-DUA",
        columns="sample_id:s chrom:s pos:i ref:s alt:s qual:f genotype:s gene:s",
        docs={"chrom": ("Chromosome, chr1 to chrX", False)},
        readme=readme(
            "# Genome variants",
            "Called with GATK HaplotypeCaller and annotated with Ensembl VEP.",
        ),
        visibility=RESTRICTED,
        rows=84_000_000,
        updated="2026-08-18",
    ),
    Spec(
        slug="covid-cases",
        team="health",
        title="COVID-19 cases by region",
        summary="Daily confirmed cases, deaths and tests per region.",
        tags=("epidemiology", "time-series"),
        license="CC-BY-4.0",
        columns="date:d region:s cases:i deaths:i tests:i hospitalised:i",
        readme=readme("# COVID-19 cases", "From the national public health institute's open data."),
        format="csv",
        rows=96_000,
        checkouts=1,
        updated="2025-10-10",
    ),
    Spec(
        slug="heart-disease",
        team="health",
        title="Heart disease (Cleveland)",
        summary="303 patients of the Cleveland Clinic with 13 attributes and a diagnosis of heart disease.",
        tags=("classification", "tutorial"),
        license="CC-BY-4.0",
        columns="age:i sex:i cp:i trestbps:i chol:i fbs:b thalach:i target:b",
        docs={"chol": ("Serum cholesterol, mg/dl", False)},
        readme=readme("# Heart disease", "From the UCI repository."),
        format="csv",
        rows=303,
        updated="2026-03-30",
    ),
    # --- mobility --------------------------------------------------------------------------
    Spec(
        slug="taxi-trips-2023",
        team="mobility",
        title="Taxi trips 2023",
        summary="Every yellow cab trip in 2023: pickup and dropoff times and zones, fares and tips.",
        tags=("taxi", "geospatial"),
        license="CC0-1.0",
        columns=(
            "vendor_id:i pickup_at:t dropoff_at:t passenger_count:i trip_distance_mi:f "
            "pickup_zone:i dropoff_zone:i fare:f tip:f total:f payment_type:s"
        ),
        readme=readme("# Taxi trips", "From the city's Taxi and Limousine Commission."),
        rows=38_000_000,
        checkouts=1,
        old_checkouts=10,
        updated="2026-02-01",
    ),
    Spec(
        slug="taxi-trips-2024",
        team="mobility",
        title="Taxi trips 2024",
        summary="Every yellow cab trip in 2024: pickup and dropoff times and zones, fares and tips.",
        tags=("taxi", "geospatial"),
        license="CC0-1.0",
        columns=(
            "vendor_id:i pickup_at:t dropoff_at:t passenger_count:i trip_distance_mi:f "
            "pickup_zone:i dropoff_zone:i fare:f tip:f total:f payment_type:s"
        ),
        readme=readme("# Taxi trips", "From the city's Taxi and Limousine Commission."),
        rows=41_000_000,
        checkouts=4,
        updated="2026-02-01",
    ),
    Spec(
        slug="city-bike-oslo",
        team="mobility",
        title="City bike trips, Oslo",
        summary="Trips of the public city bike scheme: start and end station, times and duration.",
        tags=("bikes", "geospatial"),
        license="NLOD-2.0",
        columns="trip_id:s started_at:t ended_at:t start_station:s end_station:s duration_s:i",
        readme=readme("# City bikes", "From the operator's open data feed."),
        format="csv",
        rows=900_000,
        quality="passed",
        updated="2026-06-30",
    ),
    Spec(
        slug="city-bike-bergen",
        team="mobility",
        title="City bike trips, Bergen",
        summary="Trips of the public city bike scheme: start and end station, times and duration.",
        tags=("bikes", "geospatial"),
        license="NLOD-2.0",
        columns="trip_id:s started_at:t ended_at:t start_station:s end_station:s duration_s:i",
        readme=readme("# City bikes", "From the operator's open data feed."),
        format="csv",
        rows=900_000,
        updated="2026-06-30",
    ),
    Spec(
        slug="gtfs-stops",
        team="mobility",
        title="Transit stops (GTFS)",
        summary="Bus, tram and metro stops of the regional network with coordinates.",
        tags=("transit", "geospatial"),
        license="CC-BY-4.0",
        columns="stop_id:s stop_name:s stop_lat:f stop_lon:f zone_id:s wheelchair_boarding:i",
        readme=readme("# Transit stops", "The stops.txt of the agency's GTFS feed."),
        format="csv",
        rows=9_100,
        updated="2026-11-12",
    ),
    # --- energy ----------------------------------------------------------------------------
    Spec(
        slug="energy-load",
        team="energy",
        title="Hourly electricity load",
        summary="Electricity demand of 12 balancing areas per hour, with the outdoor temperature.",
        tags=("energy", "time-series", "forecasting"),
        license="CC-BY-4.0",
        columns="ts:t area:s load_mw:f temperature_c:f forecast_mw:f holiday:b",
        docs={
            "load_mw": ("System load in megawatts, as metered by the grid operator", False),
            "forecast_mw": ("Day-ahead forecast of the load", False),
        },
        readme=readme("# Electricity load", "From the grid operators' EIA-930 reports."),
        rows=1_050_000,
        checkouts=3,
        updated="2026-11-19",
    ),
    Spec(
        slug="solar-generation",
        team="energy",
        title="Rooftop solar generation",
        summary="Output of 2,000 rooftop photovoltaic systems every 15 minutes.",
        tags=("energy", "solar"),
        license="CC-BY-4.0",
        columns="site_id:s ts:t kwh:f irradiance_wm2:f panel_kw:f inverter:s",
        readme=readme("# Rooftop solar", "Metered at each inverter; cloudy days included."),
        rows=70_000_000,
        updated="2026-08-01",
    ),
    Spec(
        slug="smart-meter-readings",
        team="energy",
        title="Smart meter readings",
        summary="Half-hourly household electricity use from 5,000 smart meters.",
        tags=("energy", "pii"),
        license="",
        columns="meter_id:s household_id:s street_address:s ts:t kwh:f",
        docs={"street_address": ("Postal address of the household", True)},
        readme=readme("# Smart meters", "Household addresses stay inside the energy team."),
        visibility=INTERNAL,
        rows=175_000_000,
        updated="2026-11-22",
    ),
    Spec(
        slug="wind-turbines",
        team="energy",
        title="Wind turbine SCADA",
        summary="Ten-minute sensor readings of 40 wind turbines: wind speed, rotor speed and power.",
        tags=("energy", "wind", "sensors"),
        license="CC-BY-4.0",
        columns="turbine_id:s ts:t wind_speed_ms:f rotor_rpm:f power_kw:f pitch_deg:f status_code:i",
        readme=readme("# Wind turbines", "From the Kelmarsh wind farm's open SCADA data."),
        rows=6_300_000,
        updated="2026-07-19",
    ),
]


@dataclass
class Catalog:
    """What the fixture built: teams and users by slug and name, datasets by slug."""

    teams: dict[str, Team]
    users: dict[str, User]
    datasets: dict[str, Dataset]

    def __getitem__(self, slug: str) -> Dataset:
        return self.datasets[slug]


def schema_of(columns: str) -> list[SchemaColumn]:
    schema: list[SchemaColumn] = []
    for item in columns.split():
        name, letter = item.rsplit(":", 1)
        logical, arrow = TYPES[letter]
        schema.append({"name": name, "type": logical, "nullable": True, "arrow_type": arrow})
    return schema


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(hour=12, tzinfo=UTC)


def catalog_build() -> Catalog:
    """Write the catalog's rows, refresh each dataset's denormalized fields and build the index."""
    teams = {slug: Team.objects.create(slug=slug, name=name) for slug, name in TEAMS.items()}
    users: dict[str, User] = {}
    for username, team_slug, role in PEOPLE:
        users[username] = User.objects.create_user(username=username, password="pw-for-tests-1")
        if team_slug and role:
            Membership.objects.create(team=teams[team_slug], user=users[username], role=role)
    trainer = User.objects.create_user(username="trainer")
    datasets = {spec.slug: _dataset_build(spec, team=teams[spec.team], trainer=trainer) for spec in SPECS}
    catalog_index(datasets.values())
    for dataset in datasets.values():
        dataset.refresh_from_db()
    return Catalog(teams=teams, users=users, datasets=datasets)


@pytest.fixture(scope="module")
def catalog_built(django_db_setup: None, django_db_blocker: Any) -> Iterator[Catalog]:
    """The catalog, built once for a module's tests (`built_once`). Built for each test, it cost
    1.5 s on SQLite and 2.5 s on PostgreSQL, for each of the 220 tests that use it, in each of CI's
    legs."""
    global _module_catalog
    with built_once(django_db_blocker):
        _module_catalog = True
        try:
            yield catalog_build()
        finally:
            _module_catalog = False


_module_catalog = False  # whether a module's catalog is in the database (catalog_built)


@pytest.fixture(autouse=True)
def catalog_only_where_asked(request: pytest.FixtureRequest) -> None:
    """Fail a test that would see a module's catalog without asking for it (a test after the
    first one that asks, in a module of tests/search): its own rows would not be alone."""
    if _module_catalog and "catalog_built" not in request.fixturenames:
        pytest.fail(
            "This test runs while its module's fixture catalog is in the database and does not ask "
            "for it: move it above the module's first test that takes `catalog`, or to another module."
        )


@pytest.fixture
def catalog(catalog_built: Catalog, db: None) -> Catalog:
    """The catalog as built, read afresh: what a test changes in its instances goes with it."""
    return Catalog(
        teams=Team.objects.in_bulk(list(catalog_built.teams), field_name="slug"),
        users=User.objects.in_bulk(list(catalog_built.users), field_name="username"),
        datasets=Dataset.objects.in_bulk(list(catalog_built.datasets), field_name="slug"),
    )


def catalog_index(datasets: Iterable[Dataset]) -> None:
    """Bring the denormalized fields and the search index up to date with the rows."""
    for dataset in datasets:
        dataset_summary_refresh(dataset_id=dataset.pk)
    search_rebuild()


def _dataset_build(spec: Spec, *, team: Team, trainer: User) -> Dataset:
    dataset = Dataset.objects.create(
        slug=spec.slug,
        team=team,
        title=spec.title,
        summary=spec.summary,
        readme=spec.readme,
        license=spec.license,
        visibility=spec.visibility,
        status=spec.status,
    )
    dataset.tags.set([Tag.objects.get_or_create(name=name)[0] for name in spec.tags])
    when = day(spec.updated)
    number = 0
    if spec.older:
        number += 1
        _version(dataset, number, columns=spec.older, spec=spec, ready_at=when - timedelta(days=120))
    number += 1
    latest = _version(dataset, number, columns=spec.columns, spec=spec, ready_at=when, quality=spec.quality)
    if spec.processing:
        number += 1
        _version(dataset, number, columns="", spec=spec, ready_at=None)
    ColumnDoc.objects.bulk_create(
        ColumnDoc(dataset=dataset, name=name, description=description, pii=pii)
        for name, (description, pii) in spec.docs.items()
    )
    now = timezone.now()
    for count, at in (
        (spec.checkouts, now - timedelta(days=3)),
        (spec.old_checkouts, now - timedelta(days=200)),
    ):
        for _ in range(count):
            checkout = Checkout.objects.create(purpose=f"train on {spec.slug}", created_by=trainer)
            CheckoutItem.objects.create(
                checkout=checkout,
                position=0,
                ref=spec.slug,
                dataset=dataset,
                version=latest,
                sha256=latest.sha256,
            )
            Checkout.objects.filter(pk=checkout.pk).update(created_at=at)
    # auto_now would stamp today: an update leaves the dates the filters and sorts are tested on.
    Dataset.objects.filter(pk=dataset.pk).update(created_at=when - timedelta(days=200), updated_at=when)
    dataset.refresh_from_db()
    return dataset


def _version(
    dataset: Dataset,
    number: int,
    *,
    columns: str,
    spec: Spec,
    ready_at: datetime | None,
    quality: str | None = None,
) -> Version:
    sha256 = hashlib.sha256(f"{spec.slug}@{number}".encode()).hexdigest()
    size = max(spec.rows * 40, 1)
    blob = Blob.objects.create(sha256=sha256, size=size)
    version = Version.objects.create(
        dataset=dataset,
        number=number,
        blob=blob,
        size=size,
        original_filename=f"{spec.slug}.{spec.format}",
        format=spec.format if ready_at else "",
        row_count=spec.rows if ready_at else None,
        schema=schema_of(columns) if ready_at else [],
        status=Version.Status.READY if ready_at else Version.Status.PROCESSING,
        quality_status=quality,
    )
    if ready_at is not None:
        Version.objects.filter(pk=version.pk).update(created_at=ready_at, status_changed_at=ready_at)
        version.refresh_from_db()
    return version
