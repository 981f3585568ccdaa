"""A synthetic catalog for bench/search.py: teams, users, tags, datasets with READMEs, versions with
schemas, column docs and checkouts, written with bulk inserts so 100,000 datasets take minutes.

Everything is drawn from a seeded generator, so two builds of the same size are the same catalog
(ids and timestamps aside). Words follow a Zipf-like law inside each theme and across themes, so
some words are in a tenth of the catalog and some in a handful of datasets; the marker words
(`MARKERS`) are each planted in 5 of the first 1,000 datasets and in about 13 at 100,000.
Django must be set up before `build` is called.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

# --- vocabulary ----------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return text.split()


# fmt: off

# Each theme: the words its titles, summaries and READMEs use (most common first) and the columns
# its tables have (name, logical type).
THEMES: dict[str, tuple[list[str], list[tuple[str, str]]]] = {
    "sales": (
        words("sales orders revenue transactions invoices store products discount basket pricing quarterly "
              "margin returns promotions receipts wholesale"),
        [("order_id", "string"), ("order_ts", "timestamp"), ("store_id", "string"), ("sku", "string"),
         ("quantity", "integer"), ("unit_price", "float"), ("discount_pct", "float"), ("revenue", "float"),
         ("currency", "string"), ("channel", "string"), ("promo_code", "string"), ("returned", "boolean")],
    ),
    "weather": (
        words("weather temperature precipitation humidity wind forecast station rainfall climate observations "
              "radar storm snowfall pressure meteorological heatwave"),
        [("station_id", "string"), ("observed_at", "timestamp"), ("temp_max", "float"), ("temp_min", "float"),
         ("temp_mean", "float"), ("precip_mm", "float"), ("humidity_pct", "float"), ("wind_speed", "float"),
         ("wind_dir", "integer"), ("pressure_hpa", "float"), ("cloud_cover", "float"), ("snow_depth_cm", "float"),
         ("elevation_m", "float")],
    ),
    "clickstream": (
        words("clickstream clicks sessions pageviews website funnel visitors referrer navigation bounce "
              "impressions scroll conversion landing tracking"),
        [("session_id", "string"), ("event_ts", "timestamp"), ("page_url", "string"), ("referrer", "string"),
         ("event_type", "string"), ("user_agent", "string"), ("ip_address", "string"), ("scroll_depth", "float"),
         ("dwell_ms", "integer"), ("is_bounce", "boolean"), ("utm_source", "string"), ("utm_campaign", "string")],
    ),
    "vision": (
        words("images vision photos segmentation bounding boxes detection pixels camera annotated masks "
              "classification thumbnails frames resolution imagenet"),
        [("image_id", "string"), ("image_path", "string"), ("width", "integer"), ("height", "integer"),
         ("label", "string"), ("bbox_x", "float"), ("bbox_y", "float"), ("bbox_w", "float"), ("bbox_h", "float"),
         ("mask_path", "string"), ("annotator_id", "string"), ("confidence", "float")],
    ),
    "nlp": (
        words("text corpus sentences tokens language documents translation sentiment reviews entities "
              "embeddings summarization multilingual transcripts wikipedia"),
        [("doc_id", "string"), ("text", "string"), ("language", "string"), ("token_count", "integer"),
         ("sentiment", "float"), ("label", "string"), ("source_url", "string"), ("split", "string"),
         ("entities", "string"), ("embedding_ref", "string")],
    ),
    "churn": (
        words("churn customers subscriptions retention cancellations tenure accounts renewals loyalty "
              "lifetime engagement cohort attrition winback plans"),
        [("customer_id", "string"), ("signup_date", "date"), ("plan", "string"), ("tenure_months", "integer"),
         ("monthly_charges", "float"), ("total_charges", "float"), ("churned", "boolean"),
         ("last_login_ts", "timestamp"), ("support_tickets", "integer"), ("contract_type", "string")],
    ),
    "genomics": (
        words("genomics genes sequencing variants samples alleles expression genome reads chromosome "
              "mutations phenotype proteins assays rnaseq"),
        [("sample_id", "string"), ("gene_id", "string"), ("chromosome", "string"), ("position", "integer"),
         ("ref_allele", "string"), ("alt_allele", "string"), ("quality_score", "float"), ("read_depth", "integer"),
         ("expression_tpm", "float"), ("phenotype", "string")],
    ),
    "finance": (
        words("finance payments ledger accounts trades prices stocks portfolio transactions credit loans "
              "interest exchange bonds volatility"),
        [("account_id", "string"), ("trade_ts", "timestamp"), ("ticker", "string"), ("price", "float"),
         ("volume", "integer"), ("bid", "float"), ("ask", "float"), ("amount", "float"), ("currency", "string"),
         ("counterparty", "string"), ("iban", "string")],
    ),
    "fraud": (
        words("fraud chargebacks disputes anomalies risk alerts suspicious scoring investigations "
              "blocklist verification identity transactions flagged"),
        [("transaction_id", "string"), ("card_hash", "string"), ("risk_score", "float"), ("is_fraud", "boolean"),
         ("merchant_id", "string"), ("device_id", "string"), ("ip_address", "string"), ("amount", "float"),
         ("alert_ts", "timestamp")],
    ),
    "logistics": (
        words("logistics shipments deliveries warehouses routes trucks parcels tracking freight inventory "
              "carriers fleet dispatch depots"),
        [("shipment_id", "string"), ("origin", "string"), ("destination", "string"), ("weight_kg", "float"),
         ("shipped_at", "timestamp"), ("delivered_at", "timestamp"), ("carrier", "string"), ("route_id", "string"),
         ("distance_km", "float"), ("late", "boolean")],
    ),
    "healthcare": (
        words("patients hospital clinical diagnoses admissions treatments prescriptions trials medical "
              "outcomes wards imaging symptoms vitals"),
        [("patient_id", "string"), ("admission_ts", "timestamp"), ("diagnosis_code", "string"),
         ("date_of_birth", "date"), ("ward", "string"), ("heart_rate", "integer"), ("blood_pressure", "string"),
         ("medication", "string"), ("outcome", "string"), ("length_of_stay", "integer")],
    ),
    "energy": (
        words("energy electricity consumption meters grid solar turbines demand load power renewable "
              "kilowatt substations outages tariffs"),
        [("meter_id", "string"), ("reading_ts", "timestamp"), ("kwh", "float"), ("voltage", "float"),
         ("power_factor", "float"), ("tariff", "string"), ("solar_kw", "float"), ("outage", "boolean")],
    ),
    "iot": (
        words("sensors telemetry devices readings firmware gateways vibration signals edge industrial "
              "machines maintenance failures anomalies"),
        [("device_id", "string"), ("reading_ts", "timestamp"), ("sensor_type", "string"), ("value", "float"),
         ("unit", "string"), ("battery_pct", "float"), ("firmware", "string"), ("vibration_rms", "float"),
         ("temperature_c", "float")],
    ),
    "ads": (
        words("advertising campaigns impressions bids auctions creatives advertisers placements budget "
              "targeting audiences attribution spend ctr"),
        [("campaign_id", "string"), ("ad_id", "string"), ("impression_ts", "timestamp"), ("bid_price", "float"),
         ("clicked", "boolean"), ("placement", "string"), ("audience", "string"), ("spend", "float")],
    ),
    "geospatial": (
        words("geospatial maps coordinates regions boundaries satellite parcels roads elevation "
              "mobility trajectories tiles addresses postcodes"),
        [("geom_wkt", "string"), ("latitude", "float"), ("longitude", "float"), ("region_code", "string"),
         ("postcode", "string"), ("address", "string"), ("area_km2", "float"), ("tile_id", "string")],
    ),
    "hr": (
        words("employees hiring payroll salaries applicants interviews headcount performance attrition "
              "departments onboarding benefits"),
        [("employee_id", "string"), ("full_name", "string"), ("email", "string"), ("department", "string"),
         ("salary", "float"), ("hire_date", "date"), ("manager_id", "string"), ("rating", "integer")],
    ),
    "support": (
        words("tickets support agents conversations chats complaints resolution satisfaction escalations "
              "helpdesk queue responses"),
        [("ticket_id", "string"), ("opened_at", "timestamp"), ("closed_at", "timestamp"), ("agent_id", "string"),
         ("priority", "string"), ("csat", "integer"), ("channel", "string"), ("body", "string"),
         ("email", "string")],
    ),
    "speech": (
        words("speech audio recordings utterances speakers transcription phonemes accents acoustic "
              "microphones waveforms"),
        [("clip_id", "string"), ("audio_path", "string"), ("duration_s", "float"), ("speaker_id", "string"),
         ("transcript", "string"), ("sample_rate", "integer"), ("accent", "string")],
    ),
    "recsys": (
        words("recommendations ratings items interactions catalog users rankings playlists watch history "
              "preferences"),
        [("user_id", "string"), ("item_id", "string"), ("rating", "float"), ("interaction_ts", "timestamp"),
         ("watch_seconds", "integer"), ("rank", "integer"), ("context", "string")],
    ),
    "traffic": (
        words("traffic vehicles congestion intersections speeds counts cameras roads commuting transit "
              "buses trains"),
        [("sensor_id", "string"), ("count_ts", "timestamp"), ("vehicle_count", "integer"), ("avg_speed", "float"),
         ("lane", "integer"), ("occupancy", "float"), ("vehicle_class", "string")],
    ),
    "agriculture": (
        words("crops yields farms soil harvest irrigation fields livestock fertilizer seasons "
              "vegetation drought"),
        [("field_id", "string"), ("crop", "string"), ("yield_t_ha", "float"), ("soil_moisture", "float"),
         ("ndvi", "float"), ("harvest_date", "date"), ("rainfall_mm", "float")],
    ),
    "telecom": (
        words("telecom calls network towers bandwidth latency subscribers roaming outages signal "
              "handsets spectrum"),
        [("msisdn_hash", "string"), ("cell_id", "string"), ("call_ts", "timestamp"), ("duration_s", "integer"),
         ("bytes_up", "integer"), ("bytes_down", "integer"), ("signal_dbm", "float"), ("phone", "string")],
    ),
    "insurance": (
        words("insurance claims policies premiums underwriting policyholders losses coverage adjusters "
              "actuarial"),
        [("policy_id", "string"), ("claim_id", "string"), ("claim_amount", "float"), ("premium", "float"),
         ("incident_date", "date"), ("coverage", "string"), ("approved", "boolean")],
    ),
    "education": (
        words("students courses grades enrollment exams learning schools teachers attendance curriculum "
              "assessments"),
        [("student_id", "string"), ("course_id", "string"), ("grade", "float"), ("term", "string"),
         ("attended", "boolean"), ("school_id", "string")],
    ),
    "gaming": (
        words("players matches games levels achievements purchases leaderboard quests sessions "
              "multiplayer"),
        [("player_id", "string"), ("match_id", "string"), ("score", "integer"), ("level", "integer"),
         ("played_at", "timestamp"), ("purchase_usd", "float"), ("platform", "string")],
    ),
    "security": (
        words("security logs intrusion authentication firewall vulnerabilities malware incidents "
              "audit endpoints phishing"),
        [("log_ts", "timestamp"), ("host", "string"), ("src_ip", "string"), ("dst_ip", "string"),
         ("port", "integer"), ("action", "string"), ("severity", "string"), ("username", "string")],
    ),
}
# Columns any table may have, and the ones that hold personal data.
COMMON_COLUMNS = [
    ("id", "integer"), ("created_at", "timestamp"), ("updated_at", "timestamp"), ("customer_id", "string"),
    ("user_id", "string"), ("email", "string"), ("country", "string"), ("region", "string"),
    ("event_ts", "timestamp"), ("source", "string"), ("batch_id", "string"), ("is_test", "boolean"),
    ("partition_date", "date"), ("version", "integer"), ("notes", "string"), ("phone", "string"),
    ("city", "string"), ("ingested_at", "timestamp"), ("tenant_id", "string"), ("status", "string"),
]
PII_COLUMNS = {
    "email", "phone", "full_name", "ip_address", "address", "date_of_birth", "device_id", "user_agent",
    "postcode", "iban", "username", "src_ip", "msisdn_hash", "patient_id",
}
STATS = ["avg_7d", "max_30d", "min_30d", "lag_1", "zscore", "pct_change", "rolling_sum", "bucket"]
ARROW_TYPES = {
    "integer": "int64",
    "float": "double",
    "string": "string",
    "boolean": "bool",
    "date": "date32[day]",
    "timestamp": "timestamp[us, tz=UTC]",
}
# fmt: on
# Words any dataset's text uses, most common first.
GENERAL = words(
    "data daily records table events monthly aggregated cleaned raw snapshot export features labels "
    "training evaluation curated pipeline warehouse partitioned sampled deduplicated hourly historical "
    "weekly anonymised joined normalized enriched backfill public internal benchmark baseline "
    "production staging metrics dimensions facts reference lookup archive realtime streaming batch "
    "validated audited quarterly annual regional global europe americas asia africa open licensed "
    "vendor partner survey census synthetic simulated forecasting modelling analysis dashboard "
    "reporting experiments holdout split schema nullable keys identifiers timestamps derived"
)
STOPWORDS = words("of the and for from with per by in on at to")
REGIONS = ["EU", "US", "UK", "APAC", "LATAM", "Nordics", "DACH", "India", "Japan", "Global"]
FREQUENCIES = ["hourly", "daily", "weekly", "monthly", "quarterly", "real-time"]
MODIFIERS = words(
    "raw curated gold silver bronze deprecated experimental pii gdpr daily hourly streaming batch eu us "
    "apac benchmark training evaluation synthetic public-domain sensitive archived beta featured "
    "ml-ready labelled"
)
# Rare words planted in a few READMEs and summaries, so a query for one finds a handful.
MARKERS = ["quokka", "vega", "zanzibar", "kestrel", "obsidian"]
LICENSES = ["CC-BY-4.0", "CC0-1.0", "MIT", "Apache-2.0", "ODbL-1.0", "CC-BY-SA-4.0", "proprietary", ""]
LICENSE_WEIGHTS = [30, 15, 8, 10, 5, 7, 20, 5]
FORMATS = ["parquet", "csv", "jsonl", "tsv"]
FORMAT_WEIGHTS = [45, 38, 10, 7]
FIRST_NAMES = words(
    "ada alan grace linus guido barbara ken dennis margaret edsger donald john frances radia tim "
    "sophie yuki amara ravi chen fatima lucas olga pedro ines noor mateo aiko kofi elena"
)
LAST_NAMES = words(
    "lovelace turing hopper torvalds rossum liskov thompson ritchie hamilton dijkstra knuth backus "
    "allen perlman berners wilson tanaka okafor patel wei haddad silva ivanova garcia costa khan"
)
TEAM_KINDS = ["analytics", "platform", "data", "science", "ml", "ops", "research", "insights"]

N_TEAMS = 200
N_USERS = 2000
N_TAGS = 500
VERSIONS = 3
CHECKOUTS_PER_DATASET = 3  # 300,000 checkouts at 100,000 datasets
BATCH = 2000
# Zipf exponents: the most common theme (sales) is a seventh of the catalog, the most common
# extra tag on about one dataset in ten.
THEME_LAW = 0.6
TAG_LAW = 0.8
PASSWORD = "bench-search-password"  # noqa: S105 (the bench user's, in a throwaway database)


def _cum(n: int, s: float) -> list[float]:
    """Cumulative Zipf weights for ranks 1..n (the k-th most common has weight 1/k^s)."""
    return list(itertools.accumulate(1.0 / (k**s) for k in range(1, n + 1)))


class Draw:
    """Zipf-like draws over a sequence, most common first."""

    def __init__(self, items: Sequence[Any], s: float = 1.0) -> None:
        self.items = list(items)
        self.cum = _cum(len(self.items), s)

    def one(self, rng: random.Random) -> Any:
        return self.items[bisect.bisect(self.cum, rng.random() * self.cum[-1])]

    def many(self, rng: random.Random, k: int) -> list[Any]:
        return rng.choices(self.items, cum_weights=self.cum, k=k)

    def distinct(self, rng: random.Random, k: int) -> list[Any]:
        seen: dict[Any, None] = {}
        for _ in range(k * 8):
            seen.setdefault(self.one(rng), None)
            if len(seen) == k:
                break
        return list(seen)


def tag_names() -> list[str]:
    """500 tag names, most used first: modifiers and theme words mixed (`raw`, `training`,
    `forecast`), then the themes (each dataset is tagged with its own anyway), then theme-modifier
    pairs (`nlp-gold`)."""
    names: dict[str, None] = {}
    rng = random.Random(11)  # noqa: S311 (a reproducible vocabulary)
    general = [
        *MODIFIERS,
        *(word for words, _ in THEMES.values() for word in words[:8] if word not in THEMES),
    ]
    rng.shuffle(general)
    for name in itertools.chain(general, THEMES):
        names.setdefault(name, None)
    pairs = [f"{theme}-{mod}" for theme in THEMES for mod in MODIFIERS[:12]]
    rng.shuffle(pairs)
    for pair in pairs:
        if len(names) >= N_TAGS:
            break
        names.setdefault(pair, None)
    return list(names)[:N_TAGS]


def usernames(seed: int = 7) -> list[str]:
    """2,000 user names (first.last, then first.last2...); the first is the bench's user."""
    names = [f"{first}.{last}" for first, last in itertools.product(FIRST_NAMES, LAST_NAMES)]
    random.Random(seed).shuffle(names)  # noqa: S311
    return [f"{names[n % len(names)]}{'' if n < len(names) else n // len(names) + 1}" for n in range(N_USERS)]


def bench_username(seed: int = 7) -> str:
    return usernames(seed)[0]


def team_specs() -> list[tuple[str, str, str]]:
    """(slug, name, theme) of 200 teams; the themes follow the same law as the datasets'."""
    rng = random.Random(12)  # noqa: S311
    themes = Draw(list(THEMES), THEME_LAW)
    specs: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    while len(specs) < N_TEAMS:
        theme = themes.one(rng)
        kind = rng.choice(TEAM_KINDS)
        slug, name = f"{theme}-{kind}", f"{theme.capitalize()} {kind}"
        if slug in seen:
            region = rng.choice(REGIONS)
            slug, name = f"{slug}-{region.lower()}", f"{name} {region}"
        if slug in seen:
            continue
        seen.add(slug)
        specs.append((slug, name, theme))
    return specs


# --- building ------------------------------------------------------------------------------------


@contextmanager
def explicit_times(*models: Any) -> Iterator[None]:
    """Let bulk_create keep the timestamps we set: auto_now and auto_now_add would stamp every row
    with the moment of the insert, and a catalog built in a minute has no history to sort by."""
    saved = []
    for model in models:
        for field in model._meta.concrete_fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                saved.append((field, field.auto_now, field.auto_now_add))
                field.auto_now = field.auto_now_add = False
    try:
        yield
    finally:
        for field, now, now_add in saved:
            field.auto_now, field.auto_now_add = now, now_add


def _sentence(rng: random.Random, theme_words: Draw, general: Draw, n: int) -> str:
    words = []
    for i in range(n):
        if i and rng.random() < 0.3:
            words.append(rng.choice(STOPWORDS))
        words.append(theme_words.one(rng) if rng.random() < 0.55 else general.one(rng))
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


class Catalog:
    """Builds datasets [start, stop) of a catalog that will hold `total`; the first call (start 0)
    also creates the teams, users, memberships and tags."""

    def __init__(self, *, total: int, seed: int = 7, now: datetime, log: Callable[[str], None]) -> None:
        self.total = total
        self.seed = seed
        self.now = now
        self.log = log
        self.general = Draw(GENERAL, 1.0)
        self.themes = Draw(list(THEMES), THEME_LAW)
        self.theme_words = {name: Draw(words, 0.9) for name, (words, _) in THEMES.items()}
        self.tags = Draw(tag_names(), TAG_LAW)
        self.licenses = (LICENSES, list(itertools.accumulate(LICENSE_WEIGHTS)))
        self.formats = (FORMATS, list(itertools.accumulate(FORMAT_WEIGHTS)))

    # Teams, users, tags --------------------------------------------------------------------------

    def base(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.hashers import make_password

        from accounts.models import Membership, Team
        from datasets.models import Tag

        User = get_user_model()
        rng = random.Random(self.seed)  # noqa: S311
        started = time.perf_counter()
        with explicit_times(Team, Membership):
            teams = Team.objects.bulk_create(
                Team(slug=slug, name=name, created_at=self.now - timedelta(days=900))
                for slug, name, _ in team_specs()
            )
            unusable = make_password(None)
            users = User.objects.bulk_create(
                User(username=name, email=f"{name}@example.org", password=unusable)
                for name in usernames(self.seed)
            )
            # The bench user: a member of the two largest teams, signing in with a password.
            bench = users[0]
            bench.set_password(PASSWORD)
            bench.save(update_fields=["password"])
            team_draw = Draw(teams, 0.8)
            rows, seen = [], set()
            for n, user in enumerate(users):
                picks = (
                    [teams[0], teams[1]] if n == 0 else team_draw.distinct(rng, rng.choice((1, 1, 2, 2, 3)))
                )
                for team in picks:
                    seen.add((team.pk, user.pk))
                    rows.append(Membership(team=team, user=user, role="member", created_at=self.now))
            # Every team has an owner and a couple of maintainers.
            for i, team in enumerate(teams):
                for role, offset in (("owner", 1), ("maintainer", 2), ("maintainer", 3)):
                    user = users[(i * 7 + offset * 131) % N_USERS]
                    if (team.pk, user.pk) not in seen and user is not bench:
                        seen.add((team.pk, user.pk))
                        rows.append(Membership(team=team, user=user, role=role, created_at=self.now))
            Membership.objects.bulk_create(rows, batch_size=BATCH)
        Tag.objects.bulk_create(Tag(name=name) for name in tag_names())
        self.log(
            f"  {len(teams)} teams, {len(users):,} users, {len(rows):,} memberships, {N_TAGS} tags "
            f"in {time.perf_counter() - started:.1f} s"
        )

    # Datasets ------------------------------------------------------------------------------------

    def datasets(self, start: int, stop: int) -> None:
        from django.contrib.auth import get_user_model
        from django.db import connection, transaction
        from django.db.models import Max

        from accounts.models import Membership, Team
        from datasets.models import AccessRequest, Blob, ColumnDoc, Dataset, Tag, Version

        rng = random.Random(self.seed * 1_000_003 + start)  # noqa: S311
        teams = list(Team.objects.order_by("pk"))
        themes = {slug: theme for slug, _, theme in team_specs()}
        team_draw = Draw(teams, 0.8)
        members: dict[int, list[int]] = {}
        for team_id, user_id in Membership.objects.values_list("team_id", "user_id"):
            members.setdefault(team_id, []).append(user_id)
        tag_ids = dict(Tag.objects.values_list("name", "pk"))
        started = time.perf_counter()
        # Ids chosen here, so versions, tags and docs can name their dataset without reading it back.
        dataset_id = (Dataset.objects.aggregate(m=Max("pk"))["m"] or 0) + 1
        version_id = (Version.objects.aggregate(m=Max("pk"))["m"] or 0) + 1
        datasets = Rows(
            Dataset,
            "id slug title summary readme team license visibility status created_by created_at updated_at",
        )
        tag_rows = Rows(Dataset.tags.through, "dataset tag")
        blobs = Rows(Blob, "sha256 size created_at")
        versions = Rows(
            Version,
            "id dataset number blob size original_filename format row_count schema status message created_by "
            "created_at status_changed_at quality_status",
        )
        docs = Rows(ColumnDoc, "dataset name description pii updated_by updated_at")
        requests = Rows(AccessRequest, "dataset user reason status created_at decided_at")
        user_ids = list(get_user_model().objects.order_by("pk").values_list("pk", flat=True))
        with transaction.atomic():
            for i in range(start, stop):
                team = team_draw.one(rng)
                theme = themes[team.slug] if rng.random() < 0.7 else self.themes.one(rng)
                d = self._dataset(rng, i, theme, members[team.pk])
                datasets.add(
                    dataset_id, d["slug"], d["title"], d["summary"], d["readme"], team.pk, d["license"],
                    d["visibility"], d["status"], d["created_by"], d["created_at"], d["updated_at"],
                )  # fmt: skip
                for name in d["tags"]:
                    tag_rows.add(dataset_id, tag_ids[name])
                for number, v in enumerate(d["versions"], start=1):
                    sha = f"{dataset_id:032x}{number:032x}"
                    blobs.add(sha, v["size"], v["at"])
                    versions.add(
                        version_id, dataset_id, number, sha, v["size"], f"{d['slug']}-v{number}.{d['format']}",
                        d["format"], v["rows"], v["schema"], "ready", v["message"], d["created_by"], v["at"],
                        v["at"] + timedelta(minutes=3), v["quality"],
                    )  # fmt: skip
                    version_id += 1
                for name, description, pii in d["docs"]:
                    docs.add(dataset_id, name, description, pii, d["created_by"], d["updated_at"])
                if d["visibility"] == "restricted" and rng.random() < 0.2:
                    # The bench user (the first) holds a few grants, as a real reader would: some
                    # among the first 1,000 datasets already, so both query counts see grants.
                    mine = rng.random() < (0.3 if i < 1000 else 0.01)
                    user = user_ids[0] if mine else rng.choice(user_ids)
                    status = rng.choices(["approved", "pending", "denied"], [60, 25, 15])[0]
                    asked = self.now - timedelta(days=rng.uniform(1, 300))
                    requests.add(
                        dataset_id, user, "needed for a model", status, asked,
                        None if status == "pending" else asked + timedelta(days=1),
                    )  # fmt: skip
                dataset_id += 1
                if len(versions) >= BATCH * 5:
                    for rows in (datasets, tag_rows, blobs, versions, docs):
                        rows.flush()
            for rows in (datasets, tag_rows, blobs, versions, docs, requests):
                rows.flush()
            made = time.perf_counter() - started
            checkouts, items = self._checkouts(rng, start, stop)
            _sequences_reset(connection, Dataset, Version)
        self.log(
            f"  datasets {start:,}-{stop:,}: {tag_rows.count:,} tags, {versions.count:,} versions, "
            f"{docs.count:,} column docs, {requests.count} access requests in {made:.1f} s; "
            f"{checkouts:,} checkouts, {items:,} items; {time.perf_counter() - started:.1f} s in all"
        )

    def _dataset(self, rng: random.Random, i: int, theme: str, member_ids: list[int]) -> dict[str, Any]:
        words = self.theme_words[theme]
        region = rng.choice(REGIONS)
        frequency = rng.choice(FREQUENCIES)
        head = words.distinct(rng, 2)
        shape = rng.random()
        if shape < 0.4:
            title = f"{head[0].capitalize()} {head[-1]} ({region}, {frequency})"
        elif shape < 0.7:
            title = f"{region} {head[0]} {self.general.one(rng)} {head[-1]}"
        else:
            title = f"{head[0].capitalize()} {head[-1]} for {rng.choice(list(THEMES))} models"
        slug = "-".join([head[0], head[-1], region.lower()])[:50] + f"-{i}"
        summary = _sentence(rng, words, self.general, rng.randint(10, 24))
        # Markers: 5 of each in the first 1,000 datasets (the size the query counts are compared
        # at), then one of each per 12,500: about 13 of each at 100,000.
        every = 40 if i < 1000 else 2500
        marker = MARKERS[(i // every) % len(MARKERS)] if i % every == 3 else ""
        if marker and rng.random() < 0.5:
            summary = summary[:-1] + f", cross-checked against the {marker} reference set."
        created = self.now - timedelta(days=rng.uniform(30, 1100))
        updated = min(self.now, created + timedelta(days=rng.uniform(0, 1100) ** 0.9))
        columns = self._columns(rng, theme)
        rows = int(10 ** rng.uniform(3, 9))
        if rng.random() < 0.4:  # the dataset has a suite: its versions were validated
            latest_quality = rng.choices(["passed", "failed", "unchecked"], [60, 25, 15])[0]
            qualities: list[str | None] = [
                "passed" if rng.random() < 0.8 else "failed",
                "passed",
                latest_quality,
            ]
        else:
            qualities = [None, None, None]
        # Older versions lack some of the newest columns (tables grow); search reads the latest.
        version_columns = [
            columns[: max(5, len(columns) // 3)],
            columns[: max(8, len(columns) * 2 // 3)],
            columns,
        ]
        span = (updated - created).total_seconds()
        versions = []
        for number in range(VERSIONS):
            versions.append(
                {
                    "at": created + timedelta(seconds=span * (number / (VERSIONS - 1)) ** 1.5),
                    "size": max(1, rows * rng.randint(40, 400) // (4 - number)),
                    "rows": max(1, rows * (number + 1) // VERSIONS),
                    "schema": [
                        {"name": name, "type": kind, "nullable": nullable, "arrow_type": ARROW_TYPES[kind]}
                        for name, kind, nullable in version_columns[number]
                    ],
                    "message": rng.choice(
                        ["initial load", "backfill", "new columns", "monthly refresh", "fix nulls"]
                    ),
                    "quality": qualities[number],
                }
            )
        documented = rng.sample(columns, k=min(len(columns), rng.randint(2, 5)))
        how = ["as reported by", "from", "derived from"]
        return {
            "slug": slug,
            "title": title,
            "summary": summary[:500],
            "readme": self._readme(rng, title, summary, columns, words, marker, slug),
            "license": rng.choices(self.licenses[0], cum_weights=self.licenses[1])[0],
            "visibility": rng.choices(["public", "internal", "restricted"], [70, 20, 10])[0],
            "status": "deprecated" if rng.random() < 0.05 else "active",
            "created_by": rng.choice(member_ids),
            "created_at": created,
            "updated_at": updated,
            "tags": list(dict.fromkeys([theme, *self.tags.distinct(rng, rng.randint(1, 4))]))[:5],
            "versions": versions,
            "format": rng.choices(self.formats[0], cum_weights=self.formats[1])[0],
            "docs": [
                (
                    name,
                    f"The {name.replace('_', ' ')} {rng.choice(how)} the {words.one(rng)} {self.general.one(rng)}.",
                    name in PII_COLUMNS,
                )
                for name, _, _ in documented
            ],
        }

    def _columns(self, rng: random.Random, theme: str) -> list[tuple[str, str, bool]]:
        own = THEMES[theme][1]
        k = rng.randint(10, 40)
        picked: dict[str, str] = {}
        for name, kind in own[: rng.randint(min(6, len(own)), len(own))]:
            picked[name] = kind
        pool = COMMON_COLUMNS[:]
        rng.shuffle(pool)
        for name, kind in pool[: rng.randint(2, 10)]:
            picked.setdefault(name, kind)
        numeric = [name for name, kind in own if kind in ("float", "integer")] or ["value"]
        derived = [f"{name}_{stat}" for name in numeric for stat in STATS]
        rng.shuffle(derived)
        derived += [f"feature_{n:02d}" for n in range(40)]  # themes with few numbers run out
        for name in derived[: max(0, k - len(picked))]:
            picked.setdefault(name, "float")
        return [(name, kind, rng.random() < 0.6) for name, kind in list(picked.items())[:k]]

    def _readme(
        self,
        rng: random.Random,
        title: str,
        summary: str,
        columns: list[tuple[str, str, bool]],
        words: Draw,
        marker: str,
        slug: str,
    ) -> str:
        paragraphs = [
            " ".join(
                _sentence(rng, words, self.general, rng.randint(8, 18)) for _ in range(rng.randint(2, 4))
            )
            for _ in range(rng.randint(1, 3))
        ]
        if marker and not summary.endswith(f"{marker} reference set."):
            paragraphs.append(f"Joined with the **{marker}** lookup before export.")
        listed = "\n".join(f"- `{name}` ({kind})" for name, kind, _ in columns[: rng.randint(3, 8)])
        return (
            f"# {title}\n\n{summary}\n\n## Contents\n\n"
            + "\n\n".join(paragraphs)
            + f'\n\n## Columns\n\n{listed}\n\n## Usage\n\n```python\nclient.download("{slug}@latest")\n```\n'
        )

    def _checkouts(self, rng: random.Random, start: int, stop: int) -> tuple[int, int]:
        """CHECKOUTS_PER_DATASET per new dataset, over every dataset so far, with a long tail (a few
        datasets pulled thousands of times, most a few times or never) and over the last 180 days."""
        from django.contrib.auth import get_user_model

        from datasets.models import Checkout, CheckoutItem, Dataset, Version

        ids = list(Dataset.objects.order_by("pk").values_list("pk", "slug"))
        versions: dict[int, list[tuple[int, str]]] = {}
        for dataset_id, pk, sha in Version.objects.order_by("dataset_id", "number").values_list(
            "dataset_id", "pk", "blob_id"
        ):
            versions.setdefault(dataset_id, []).append((pk, sha))
        # The same popularity ranking at every stage: dataset ids shuffled by a fixed seed.
        order = sorted(ids, key=lambda row: (row[0] * 2654435761 + self.seed) % 4294967296)
        popular = Draw(order, 0.8)
        user_ids = list(get_user_model().objects.values_list("pk", flat=True))
        checkouts = Rows(Checkout, "id purpose model run_id created_by created_at")
        items = Rows(CheckoutItem, "checkout position ref dataset version sha256 parquet_sha256")
        count = (stop - start) * CHECKOUTS_PER_DATASET
        themes = self.themes.many(rng, count)
        for n in range(count):
            checkout_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            checkouts.add(
                checkout_id,
                f"train {themes[n]} model",
                f"{themes[n]}-model-v{rng.randint(1, 9)}",
                "",
                rng.choice(user_ids),
                self.now - timedelta(seconds=rng.uniform(0, 180 * 86400)),
            )
            picked = dict(popular.many(rng, rng.choices((1, 2, 3), (80, 15, 5))[0]))
            for position, (dataset_id, slug) in enumerate(picked.items()):
                number = rng.choices((1, 2, 3), (5, 15, 80))[0]
                version_id, sha = versions[dataset_id][number - 1]
                ref = f"{slug}@{number}" if rng.random() < 0.5 else f"{slug}@latest"
                items.add(checkout_id, position, ref, dataset_id, version_id, sha, "")
            if len(items) >= BATCH * 10:
                checkouts.flush()
                items.flush()
        checkouts.flush()
        items.flush()
        return checkouts.count, items.count


class Rows:
    """Rows for one table, inserted in bulk without building model instances: executemany on
    SQLite, COPY on PostgreSQL (bulk_create spent most of its time preparing each value). Columns
    not named get their field's default, so fields added to the models later do not break it."""

    def __init__(self, model: Any, names: str) -> None:
        from django.db import connection

        self.connection = connection
        self.fields = [model._meta.get_field(name) for name in names.split()]
        named = {field.column for field in self.fields}
        rest = [
            field
            for field in model._meta.concrete_fields
            if field.column not in named
            and not (field.primary_key and field.get_internal_type().endswith("AutoField"))
        ]
        self.fixed = tuple(field.get_db_prep_save(field.get_default(), connection) for field in rest)
        self.converters: list[tuple[int, Callable[[Any], Any]]] = []
        for n, field in enumerate(self.fields):
            convert = self._converter(field)
            if convert is not None:
                self.converters.append((n, convert))
        quote = connection.ops.quote_name
        self.table = quote(model._meta.db_table)
        self.columns = ", ".join(quote(field.column) for field in [*self.fields, *rest])
        self.width = len(self.fields) + len(rest)
        self.rows: list[list[Any]] = []
        self.count = 0

    def _converter(self, field: Any) -> Callable[[Any], Any] | None:
        if field.is_relation:
            field = field.target_field  # a key holds its target's type (a checkout's UUID)
        ops, kind = self.connection.ops, field.get_internal_type()
        if kind == "DateTimeField":
            return ops.adapt_datetimefield_value  # type: ignore[no-any-return, unused-ignore]
        if kind == "DateField":
            return ops.adapt_datefield_value  # type: ignore[no-any-return, unused-ignore]
        if kind == "JSONField":
            return lambda value: ops.adapt_json_value(value, field.encoder)
        if kind == "UUIDField":
            return lambda value: field.get_db_prep_value(value, self.connection)
        return None

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, *values: Any) -> None:
        self.rows.append(list(values))

    def flush(self) -> None:
        if not self.rows:
            return
        for values in self.rows:
            for n, convert in self.converters:
                if values[n] is not None:
                    values[n] = convert(values[n])
        rows = [tuple(values) + self.fixed for values in self.rows]
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {self.table} ({self.columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                placeholders = ", ".join(["%s"] * self.width)
                # Names from the models' metadata, values as parameters.
                sql = f"INSERT INTO {self.table} ({self.columns}) VALUES ({placeholders})"  # noqa: S608
                cursor.executemany(sql, rows)
        self.count += len(rows)
        self.rows = []


def _sequences_reset(connection: Any, *models: Any) -> None:
    """After inserting explicit ids, PostgreSQL's sequences must move past them."""
    from django.core.management.color import no_style

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), list(models)):
            cursor.execute(sql)


def summaries_fill() -> list[str]:
    """Write the list fields every dataset keeps (latest and certified version, version count,
    checkouts ever and in the last 90 days, when the newest version became ready) in one UPDATE
    for the whole catalog, by the definitions datasets.services.summary uses for one dataset.
    Returns the fields written (none before they existed)."""
    from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
    from django.db.models.functions import Coalesce
    from django.utils import timezone

    from datasets.models import CheckoutItem, Dataset, Version
    from datasets.references import versions_certified_of, versions_ready_of

    wanted = [
        "latest_version",
        "certified_version",
        "version_count",
        "checkout_count",
        "checkouts_90d",
        "last_version_at",
    ]
    fields = {field.name for field in Dataset._meta.concrete_fields}
    if not all(name in fields for name in wanted):
        return []
    try:
        from datasets.services.summary import POPULARITY_DAYS
    except ImportError:
        POPULARITY_DAYS = 90

    def count(rows: QuerySet[Any], field: str) -> Coalesce:
        counted = rows.order_by().values("dataset").annotate(n=Count(field, distinct=True)).values("n")
        return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))

    since = timezone.now() - timedelta(days=POPULARITY_DAYS)
    items = CheckoutItem.objects.filter(dataset=OuterRef("pk"))
    ready = versions_ready_of(OuterRef("pk"))
    Dataset.objects.update(
        latest_version=Subquery(ready.values("pk")[:1]),
        certified_version=Subquery(versions_certified_of(OuterRef("pk")).values("pk")[:1]),
        last_version_at=Subquery(ready.values("status_changed_at")[:1]),
        version_count=count(Version.objects.filter(dataset=OuterRef("pk")), "pk"),
        checkout_count=count(items, "checkout"),
        checkouts_90d=count(items.filter(checkout__created_at__gte=since), "checkout"),
    )
    return wanted


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by the nearest-rank method."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]
