"""Seeds a Granary with a demo admin, a demo team and three small, real, openly licensed datasets.

Everything here is idempotent: what exists is left as it is, so `make run` can seed every time.
The files live in the repository's `demo/` folder (see demo/README.md for sources and licences)
and go through the same services as any upload: `version_create`, then `version_ingest`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User

from accounts.models import Team
from accounts.services import team_create
from datasets import storage
from datasets.models import Dataset, Version
from datasets.services.datasets import dataset_create
from datasets.services.versions import version_create, version_ingest

logger = logging.getLogger(__name__)

DEMO_TEAM = "demo"


def demo_dir() -> Path:
    return Path(settings.BASE_DIR) / "demo"


@dataclass(frozen=True)
class DemoDataset:
    slug: str
    title: str
    summary: str
    readme: str
    license: str
    visibility: str
    tags: tuple[str, ...]
    filename: str
    message: str


IRIS_README = """\
# Iris flower measurements

Fisher's classic table: **150 iris flowers**, 50 of each of three species, with four
measurements in centimetres. A first dataset for classification, clustering and plotting.

| column | type | meaning |
|---|---|---|
| `sepal_length` | float | sepal length, cm |
| `sepal_width` | float | sepal width, cm |
| `petal_length` | float | petal length, cm |
| `petal_width` | float | petal width, cm |
| `species` | string | `setosa`, `versicolor` or `virginica` |

*Setosa* is linearly separable from the other two; *versicolor* and *virginica* overlap.

## Source and licence
R. A. Fisher (1936), "The use of multiple measurements in taxonomic problems", *Annals of
Eugenics* 7(2): 179-188; measurements by Edgar Anderson. Distributed by the
[UCI Machine Learning Repository](https://doi.org/10.24432/C56C76) under
**CC BY 4.0**. Values as in Fisher's paper (and R's `datasets::iris`), which differ from UCI's
`iris.data` in two cells of samples 35 and 38.
"""

PENGUINS_README = """\
# Palmer Archipelago penguins

Size measurements of **344 adult penguins** of three species (Adélie, Chinstrap, Gentoo) on
three islands near Palmer Station, Antarctica, 2007-2009. A friendly alternative to Iris, with
missing values to deal with.

| column | type | meaning |
|---|---|---|
| `species` | string | `Adelie`, `Chinstrap` or `Gentoo` |
| `island` | string | `Biscoe`, `Dream` or `Torgersen` |
| `bill_length_mm` | float | culmen (bill) length, mm |
| `bill_depth_mm` | float | culmen (bill) depth, mm |
| `flipper_length_mm` | integer | flipper length, mm |
| `body_mass_g` | integer | body mass, g |
| `sex` | string | `female` or `male` |
| `year` | integer | study year |

`NA` marks a missing value: two birds have no measurements and eleven have no recorded sex.

## Source and licence
Gorman KB, Williams TD, Fraser WR (2014), *PLoS ONE* 9(3): e90081,
[doi:10.1371/journal.pone.0090081](https://doi.org/10.1371/journal.pone.0090081); data by the
Palmer Station Antarctica LTER, packaged as the R package
[palmerpenguins](https://allisonhorst.github.io/palmerpenguins/) by Allison Horst, Alison Hill
and Kristen Gorman. **CC0 1.0** (public domain dedication); please cite the paper.
"""

CO2_README = """\
# Mauna Loa atmospheric CO₂, annual means

The **annual mean CO₂ mole fraction in dry air** at Mauna Loa Observatory, Hawaii, from 1959
to 2025: the Keeling curve, one row per year.

| field | type | meaning |
|---|---|---|
| `year` | integer | calendar year |
| `mean_co2_ppm` | float | annual mean, µmol/mol (ppm) |
| `uncertainty_ppm` | float | estimated uncertainty of the annual mean, ppm |

Data before May 1974 are from C. David Keeling (Scripps Institution of Oceanography). From
December 2022 to July 2023 measurements come from Maunakea, after the Mauna Loa eruption. The
latest year may still be revised by NOAA.

## Source and licence
NOAA Global Monitoring Laboratory,
[Trends in Atmospheric Carbon Dioxide](https://gml.noaa.gov/ccgg/trends/data.html), file
`co2_annmean_mlo.csv`. A work of the US Government: **public domain** in the United States.
Credit: Dr. Xin Lan, NOAA/GML, and Dr. Ralph Keeling, Scripps Institution of Oceanography.

*Restricted in this demo* only to show what a restricted dataset looks like to people outside its
team: its title and summary, but no versions or data until an owner approves their access request.
"""

DEMO_DATASETS: tuple[DemoDataset, ...] = (
    DemoDataset(
        slug="iris",
        title="Iris flower measurements (Fisher, 1936)",
        summary="Sepal and petal sizes of 150 irises of three species: the classic classification table.",
        readme=IRIS_README,
        license="CC-BY-4.0",
        visibility=Dataset.Visibility.PUBLIC,
        tags=("tabular", "classification", "botany", "classic"),
        filename="iris.csv",
        message="Fisher's 150 samples, as published (R datasets::iris values).",
    ),
    DemoDataset(
        slug="palmer-penguins",
        title="Palmer Archipelago penguins",
        summary="Bill, flipper and body mass measurements of 344 Antarctic penguins, 2007-2009.",
        readme=PENGUINS_README,
        license="CC0-1.0",
        visibility=Dataset.Visibility.INTERNAL,
        tags=("tabular", "classification", "ecology", "missing-values"),
        filename="penguins.tsv",
        message="palmerpenguins::penguins, 344 birds, tab-separated.",
    ),
    DemoDataset(
        slug="mauna-loa-co2",
        title="Mauna Loa atmospheric CO2, annual means",
        summary="NOAA's annual mean carbon dioxide at Mauna Loa Observatory, 1959-2025, in ppm.",
        readme=CO2_README,
        license="Public domain (US Government work, NOAA GML)",
        visibility=Dataset.Visibility.RESTRICTED,
        tags=("climate", "time-series", "noaa"),
        filename="mauna_loa_co2_annual.jsonl",
        message="NOAA GML co2_annmean_mlo.csv (created 2026-06-05) as JSON Lines.",
    ),
)


@dataclass(frozen=True)
class AdminResult:
    user: User
    created: bool
    password_matches: bool


def demo_admin_ensure(*, username: str, password: str, email: str = "") -> AdminResult:
    """The demo superuser: created with `password` if missing, otherwise left untouched."""
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_superuser(username=username, email=email, password=password)
        return AdminResult(user=user, created=True, password_matches=True)
    return AdminResult(user=user, created=False, password_matches=user.check_password(password))


@dataclass(frozen=True)
class SeedStep:
    slug: str
    action: str  # what happened, for the command's output
    version: Version | None = None


def demo_seed(*, user: User, team_slug: str = DEMO_TEAM) -> list[SeedStep]:
    """Create the demo team and datasets and a ready version 1 of each, skipping what exists."""
    steps: list[SeedStep] = []
    team = Team.objects.filter(slug=team_slug).first()
    if team is None:
        team = team_create(user=user, slug=team_slug, name="Demo")
        steps.append(SeedStep(slug=team_slug, action="created team"))
    for spec in DEMO_DATASETS:
        steps.append(_seed_dataset(spec=spec, team=team, user=user))
    # Ingest here rather than wait for a worker, so the demo is ready as soon as the portal is;
    # a queued ingest task then finds the version ready and does nothing.
    for version in Version.objects.filter(
        dataset__team=team,
        dataset__slug__in=[spec.slug for spec in DEMO_DATASETS],
        status=Version.Status.PROCESSING,
    ).select_related("dataset"):
        done = version_ingest(version_id=version.pk)
        status = done.status if done else "gone"
        action = f"ingested version {version.number}: {status}"
        steps.append(SeedStep(slug=version.dataset.slug, action=action, version=done))
    return steps


def _seed_dataset(*, spec: DemoDataset, team: Team, user: User) -> SeedStep:
    dataset = Dataset.objects.filter(slug=spec.slug).first()
    created = dataset is None
    if dataset is None:
        dataset = dataset_create(
            user=user,
            team=team,
            slug=spec.slug,
            title=spec.title,
            summary=spec.summary,
            readme=spec.readme,
            license=spec.license,
            visibility=spec.visibility,
            tags=spec.tags,
        )
    elif dataset.team_id != team.pk:
        return SeedStep(slug=spec.slug, action=f"skipped: a dataset '{spec.slug}' of another team exists")
    if dataset.versions.exists():
        return SeedStep(slug=spec.slug, action="exists")
    version = _upload(dataset=dataset, user=user, source=demo_dir() / spec.filename, message=spec.message)
    prefix = "created, " if created else ""
    return SeedStep(slug=spec.slug, action=f"{prefix}uploaded version {version.number}", version=version)


def _upload(*, dataset: Dataset, user: User, source: Path, message: str) -> Version:
    """Publish `source` as a new version the way an upload does: a finished file under tmp/."""
    handle = tempfile.NamedTemporaryFile(dir=storage.tmp_dir(), prefix="demo-", delete=False)  # noqa: SIM115
    path = Path(handle.name)
    try:
        with handle, open(source, "rb") as src:
            shutil.copyfileobj(src, handle, storage.CHUNK)
            handle.flush()
            os.fsync(handle.fileno())
        sha256 = storage.file_sha256(path)
        size = path.stat().st_size
        try:
            return version_create(
                dataset=dataset,
                user=user,
                path=path,
                sha256=sha256,
                size=size,
                filename=source.name,
                message=message,
            )
        except Exception as exc:
            # Queueing the ingest task runs after the commit: when the broker is not reachable
            # it fails although the version exists. demo_seed ingests it inline anyway.
            version = dataset.versions.filter(blob_id=sha256).first()
            if version is None:
                raise
            logger.warning("Could not queue ingest of %s (%s); ingesting it here.", version, exc)
            return version
    finally:
        path.unlink(missing_ok=True)
