#!/usr/bin/env python
"""Lineage benchmark: a depth-5 query on a graph of 10,000 nodes and 20,000 edges.

    .venv/bin/python bench/lineage.py [--nodes 10000] [--edges 20000] [--runs 7]

Builds, in a temporary SQLite database (or the one DATABASE_URL names, which must be empty), a
layered graph of the size asked for: 60 % dataset versions, 10 % external datasets and 30 % job
runs; 40 % of the edges declared on upload (version → version), 60 % reported by OpenLineage
(inputs into runs, runs into their outputs). A fifth of the datasets belong to another team and are
internal, so the caller meets "restricted" nodes and visibility filtering does its part.

It then times, as a member of the main team, `GET /api/v1/datasets/{slug}/lineage/?direction=both
&depth=5` for a dataset in the middle layer (through Django's test client: the view, the walk,
visibility, JSON), and the `lineage_graph` selector alone, and prints the median of --runs runs
and the number of SQL queries; and impact analysis (any depth) from a version in the first layer.
Target: the depth-5 query under 200 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 200.0
LAYERS = 10
VERSIONS_PER_DATASET = 6


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--edges", type=int, default=20_000)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="granary-bench-lineage-"))
    try:
        os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
        os.environ["GRANARY_DATA_DIR"] = str(workdir / "data")
        os.environ.setdefault("SECRET_KEY", "bench-lineage-not-secret-0123456789abcdefghijklmnopqrstuvwxyz")
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
        os.environ["ALLOWED_HOSTS"] = "testserver"  # Django's test client, in process
        warnings.filterwarnings("ignore", message="No directory at")  # static files are not collected
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        facts = build(args.nodes, args.edges, random.Random(args.seed))  # noqa: S311 (a reproducible graph)
        return measure(facts, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def build(nodes: int, edges: int, rng: random.Random) -> dict[str, object]:
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Membership, Team
    from datasets.models import Blob, Dataset, Version
    from lineage.models import ExternalDataset, Job, Run, RunDataset

    started = time.perf_counter()
    n_versions, n_externals = nodes * 6 // 10, nodes // 10
    n_runs = nodes - n_versions - n_externals
    n_declared = edges * 4 // 10
    n_inputs = (edges - n_declared) * 7 // 12
    n_outputs = edges - n_declared - n_inputs
    now = timezone.now()
    with transaction.atomic():
        team, other = (
            Team.objects.create(slug="main", name="Main"),
            Team.objects.create(slug="other", name="Other"),
        )
        member = User.objects.create_user("bench-member")
        Membership.objects.create(team=team, user=member, role=Membership.Role.MEMBER)
        datasets = Dataset.objects.bulk_create(
            Dataset(
                slug=f"d{n:05d}",
                title=f"Dataset {n}",
                team=other if n % 5 == 4 else team,
                visibility="internal" if n % 5 == 4 else "public",
            )
            for n in range(n_versions // VERSIONS_PER_DATASET)
        )
        blobs = Blob.objects.bulk_create(Blob(sha256=f"{n:064x}", size=1) for n in range(n_versions))
        versions = Version.objects.bulk_create(
            Version(
                dataset=datasets[n // VERSIONS_PER_DATASET],
                number=n % VERSIONS_PER_DATASET + 1,
                blob=blobs[n],
                size=1,
                status=Version.Status.READY,
            )
            for n in range(n_versions)
        )
        # Layers by dataset, so a dataset's versions sit together and edges flow layer to layer.
        dataset_of = {v.pk: v.dataset_id for v in versions}
        index_of = {d.pk: n for n, d in enumerate(datasets)}
        layer_of = {v.pk: index_of[v.dataset_id] * LAYERS // len(datasets) for v in versions}
        by_layer: dict[int, list[int]] = {}
        for pk, layer in layer_of.items():
            by_layer.setdefault(layer, []).append(pk)
        declared: set[tuple[int, int]] = set()
        while len(declared) < n_declared:
            layer = rng.randrange(1, LAYERS)
            declared.add((rng.choice(by_layer[layer]), rng.choice(by_layer[layer - 1])))
        Version.derived_from.through.objects.bulk_create(
            Version.derived_from.through(from_version_id=down, to_version_id=up) for down, up in declared
        )
        externals = ExternalDataset.objects.bulk_create(
            ExternalDataset(namespace="postgres://warehouse:5432", name=f"public.t{n}")
            for n in range(n_externals)
        )
        jobs = Job.objects.bulk_create(
            Job(namespace="airflow", name=f"job{n}") for n in range(max(1, n_runs // 10))
        )
        runs = Run.objects.bulk_create(
            Run(job=jobs[n % len(jobs)], run_id=uuid.uuid4(), state="COMPLETE", state_time=now)
            for n in range(n_runs)
        )
        run_layer = {run.pk: rng.randrange(1, LAYERS) for run in runs}
        ends: set[tuple[int, str, str]] = set()
        rows = []

        def end(run: Run, role: str, version_id: int | None, external: ExternalDataset | None) -> None:
            name = f"v{version_id}" if version_id else external.name  # type: ignore[union-attr]
            if (run.pk, role, name) in ends:
                return
            ends.add((run.pk, role, name))
            dataset_id = dataset_of[version_id] if version_id else None
            rows.append(
                RunDataset(
                    run=run,
                    role=role,
                    namespace="bench",
                    name=name,
                    version_id=version_id,
                    dataset_id=dataset_id,
                    external=None if version_id else external,
                )
            )

        for run in runs:  # every run reads one thing and writes one, then the rest at random
            end(run, "input", rng.choice(by_layer[run_layer[run.pk] - 1]), None)
            end(run, "output", rng.choice(by_layer[run_layer[run.pk]]), None)
        while sum(1 for r in rows if r.role == "input") < n_inputs:
            run = rng.choice(runs)
            if rng.random() < 0.3:
                end(run, "input", None, rng.choice(externals))
            else:
                end(run, "input", rng.choice(by_layer[run_layer[run.pk] - 1]), None)
        while sum(1 for r in rows if r.role == "output") < n_outputs:
            run = rng.choice(runs)
            end(run, "output", rng.choice(by_layer[run_layer[run.pk]]), None)
        RunDataset.objects.bulk_create(rows, batch_size=2000)
    with connection.cursor() as cursor:  # fresh statistics, as autovacuum would have by now
        cursor.execute("ANALYZE")
    middle = next(d for d in datasets[len(datasets) // 2 :] if d.team_id == team.pk)
    first = next(
        v for v in versions if layer_of[v.pk] == 0 and datasets[index_of[v.dataset_id]].team_id == team.pk
    )
    print(
        f"graph: {n_versions + n_externals + n_runs:,} nodes ({n_versions:,} versions of {len(datasets):,} datasets, "
        f"{n_externals:,} external datasets, {n_runs:,} job runs), "
        f"{len(declared) + len(rows):,} edges ({len(declared):,} declared, {len(rows):,} from OpenLineage); "
        f"built in {time.perf_counter() - started:.1f} s"
    )
    return {"member": member, "dataset": middle, "version": first}


def measure(facts: dict[str, object], args: argparse.Namespace) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from lineage.graph import lineage_graph, lineage_impact

    member, dataset, version = facts["member"], facts["dataset"], facts["version"]
    client = Client()
    client.force_login(member)  # type: ignore[arg-type]
    url = f"/api/v1/datasets/{dataset.slug}/lineage/?direction=both&depth={args.depth}"  # type: ignore[attr-defined]

    def timed(call: object) -> tuple[float, int, object]:
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            result = call()  # type: ignore[operator]
            elapsed = (time.perf_counter() - start) * 1000
        if os.environ.get("BENCH_QUERIES"):
            for query in sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:8]:
                print(f"    {float(query['time']) * 1000:7.1f} ms  {query['sql'][:150]}")
        return elapsed, len(queries), result

    def median(call: object) -> tuple[float, int, object]:
        timed(call)  # warm-up
        samples = [timed(call) for _ in range(args.runs)]
        return statistics.median(s[0] for s in samples), samples[0][1], samples[0][2]

    api_ms, api_queries, response = median(lambda: client.get(url))
    body = response.json()  # type: ignore[attr-defined]
    kinds: dict[str, int] = {}
    for node in body["nodes"]:
        kinds[node["kind"]] = kinds.get(node["kind"], 0) + 1
    selector_ms, selector_queries, _ = median(
        lambda: lineage_graph(user=member, dataset=dataset, direction="both", depth=args.depth)
    )
    impact_ms, impact_queries, impact = median(lambda: lineage_impact(user=member, version=version))
    print(
        f"depth-{args.depth} query (both directions) around {dataset.slug}: "  # type: ignore[attr-defined]
        f"{len(body['nodes']):,} nodes ({', '.join(f'{n:,} {k}' for k, n in sorted(kinds.items()))}), "
        f"{len(body['edges']):,} edges"
    )
    print(f"  API GET {url}: {api_ms:.1f} ms median of {args.runs}, {api_queries} SQL queries")
    print(f"  lineage_graph selector alone: {selector_ms:.1f} ms, {selector_queries} SQL queries")
    downstream = sum(len(versions) for _, versions in impact.datasets)  # type: ignore[attr-defined]
    print(
        f"impact analysis from {version} (any depth): {downstream:,} versions, "
        f"{len(impact.jobs):,} jobs, {impact.restricted:,} restricted, {impact.depth} levels: "  # type: ignore[attr-defined]
        f"{impact_ms:.1f} ms, {impact_queries} SQL queries"
    )
    verdict = "met" if api_ms < TARGET_MS else "MISSED"
    print(f"target: depth-{args.depth} query under {TARGET_MS:.0f} ms: {verdict}")
    return 0 if api_ms < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
