"""The `granary` command: sign in, find data, pull pinned versions, record checkouts, push.

Exit codes: 0 done; 1 another error; 2 bad usage or configuration; 3 not found; 4 not signed in
or not allowed; 5 integrity (a sha256 that does not match); 6 conflict (a version processing or
failed, bytes already uploaded); 7 network failure; 130 interrupted. `--json` prints one JSON
document on stdout for scripts; messages and progress bars go to stderr.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import socket
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from granary import __version__
from granary.client import Client, manifest_verify, split_ref
from granary.config import config_load, config_save
from granary.errors import ConfigError, GranaryError, IntegrityError
from granary.manifest import Manifest
from granary.progress import human_bytes

EXIT_INTERRUPTED = 130
SORTS = ["relevance", "popular", "updated", "name"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    tokens = list(sys.argv[1:] if argv is None else argv)
    if "search" in tokens:  # -h alone is help; -hourly is a word left out (search has no short options)
        at = tokens.index("search")
        tokens[at + 1 :] = ["--help" if arg == "-h" else arg for arg in tokens[at + 1 :]]
    args, extra = parser.parse_known_args(tokens)
    unknown = [arg for arg in extra if arg.startswith("--") and arg != "--"]
    if getattr(args, "command", None) == "search" and not unknown:
        args.query = _search_words(tokens[tokens.index("search") + 1 :], args.valued)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args) or 0)
    except GranaryError as exc:
        _error(exc.detail + _hint(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted; a partial download is kept and the next pull resumes it")
        return EXIT_INTERRUPTED
    except OSError as exc:  # a local file that cannot be read or written
        _error(str(exc))
        return 1


def _search_words(tokens: list[str], valued: frozenset[str]) -> list[str]:
    """The query of `granary search`, in the order typed (the last word is the one being typed, a
    prefix), negated words and filters (`-draft`, `-tag:deprecated`) included: argparse takes them
    for unknown options. Every token that is not an option or an option's value is the query's."""
    words: list[str] = []
    position = 0
    while position < len(tokens):
        arg = tokens[position]
        if arg == "--":
            words += tokens[position + 1 :]
            break
        if arg.startswith("--"):
            position += 2 if arg in valued else 1
            continue
        words.append(arg)
        position += 1
    return words


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="the Granary server (default: GRANARY_URL, or what `login` saved)")
    common.add_argument("--token", help="an API token (default: GRANARY_TOKEN, or what `login` saved)")
    common.add_argument("--json", action="store_true", help="print JSON on stdout, for scripts")
    common.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars on stderr (default: when stderr is a terminal)",
    )
    parser = argparse.ArgumentParser(
        prog="granary",
        description="Pull pinned, verified versions of Granary datasets. References: churn@3, "
        "churn@latest, churn@certified, churn@prod, churn@sha256:<12+ hex>, or churn (latest).",
        epilog="Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 auth, 5 integrity, 6 conflict, 7 network.",
    )
    parser.add_argument("--version", action="version", version=f"granary {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    login = commands.add_parser("login", parents=[common], help="sign in and keep a token (file mode 0600)")
    login.add_argument("server", nargs="?", help="the server's URL, e.g. https://granary.example.org")
    login.add_argument("--username", "-u")
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    login.add_argument(
        "--scope",
        choices=["read", "write", "admin"],
        default="read",
        help="what the token may do: read (pull and browse; the default), write (also push), "
        "admin (also manage teams)",
    )
    login.add_argument("--team", default="", help="limit what the token may change to this team")
    login.set_defaults(run=_login)

    search = commands.add_parser(
        "search",
        parents=[common],
        add_help=False,  # no -h: `-hourly` is a word to leave out (main turns a lone -h into --help)
        allow_abbrev=False,  # options are spelled out, so that _search_words knows them
        help="find datasets you may see, best first",
        description='Words (all must match), "quoted phrases", -word, and filters: column:email '
        "tag:nlp team:vision license:cc-by-4.0 format:parquet certified:yes pii:no quality:failing "
        "visibility:internal updated:>2026-10-01 rows:>1000000, each negated with a leading -. "
        "Quote the whole query for your shell when it has quotes or > in it.",
    )
    search.add_argument("query", nargs="*", help="the search text (several words are joined)")
    search.add_argument("--sort", choices=SORTS, help="default: relevance with words, else popular")
    search.add_argument("--page", type=int, default=1)
    search.add_argument("--per-page", "--limit", dest="per_page", type=int, default=20, help="1 to 100")
    search.add_argument("--tag", default="", help="the same as tag:TAG in the query")
    search.add_argument("--team", default="", help="the same as team:TEAM in the query")
    search.add_argument("--popular", action="store_true", help="the same as --sort popular")
    search.add_argument("--help", action="help", help="show this help message and exit (-h too)")
    # The options that take a value, whose value is not a word of the query (_search_words).
    valued = frozenset(
        option for action in search._actions if action.nargs != 0 for option in action.option_strings
    )
    search.set_defaults(run=_search, valued=valued)

    columns = commands.add_parser(
        "columns", parents=[common], help="which datasets have a column like this one"
    )
    columns.add_argument("name", help="part of a column name, any case (exact when under 3 characters)")
    columns.add_argument("--limit", type=int, default=50, help="1 to 200")
    columns.add_argument("--offset", type=int, default=0)
    columns.set_defaults(run=_columns)

    query = commands.add_parser(
        "query", parents=[common], help='run one read-only SELECT over versions: FROM "churn@3"'
    )
    query.add_argument("sql", help="one SELECT; name versions in double quotes: 'SELECT * FROM \"churn@3\"'")
    query.add_argument("--version", help="a version the SQL reads as the table `data`")
    query.add_argument(
        "-o", "--output", type=Path, help="write the whole result to a .csv or .parquet file instead"
    )
    query.add_argument(
        "--save-as", metavar="DATASET", help="save the whole result as the next version of DATASET"
    )
    query.add_argument("-m", "--message", default="", help="the saved version's message (--save-as)")
    query.add_argument(
        "--no-wait", dest="wait", action="store_false", help="with --save-as: return while it is processing"
    )
    query.add_argument("--timeout", type=float, default=3600, help="seconds to wait for ready (default 3600)")
    query.set_defaults(run=_query)

    info = commands.add_parser("info", parents=[common], help="what a reference resolves to")
    info.add_argument("ref")
    info.set_defaults(run=_info)

    pull = commands.add_parser(
        "pull", parents=[common], help="download a version, or everything a lock names"
    )
    pull.add_argument("ref", nargs="?", help="a reference, e.g. churn@prod")
    pull.add_argument("-o", "--output", help="file or directory to write (default: just the cache)")
    pull.add_argument(
        "--format",
        choices=["original", "parquet", "csv", "jsonl"],
        help="original (the file as uploaded; the default) or parquet are verified and cached; csv and jsonl are exports",
    )
    pull.add_argument("--columns", help="comma-separated columns (an export: parquet unless --format says)")
    pull.add_argument("--lock", help="pull exactly the versions a lock file names")
    pull.set_defaults(run=_pull)

    push = commands.add_parser("push", parents=[common], help="upload a file as a new version")
    push.add_argument("dataset")
    push.add_argument("file", type=Path)
    push.add_argument("-m", "--message", default="")
    push.add_argument(
        "--derived-from", action="append", default=[], metavar="REF", help="an upstream version"
    )
    push.add_argument("--code-url", default="", help="the code that made it (repository URL and commit)")
    push.add_argument("--no-wait", dest="wait", action="store_false", help="return while it is processing")
    push.add_argument(
        "--no-direct",
        dest="direct",
        action="store_const",
        const=False,
        default=None,
        help="send the file through the server even when it is big enough to go straight to storage",
    )
    push.add_argument("--timeout", type=float, default=3600, help="seconds to wait for ready (default 3600)")
    push.set_defaults(run=_push)

    checkout = commands.add_parser(
        "checkout", parents=[common], help="pin references to exact versions and write a lock file"
    )
    checkout.add_argument("refs", nargs="+")
    checkout.add_argument("--purpose", required=True, help="what the data is for")
    checkout.add_argument("--model", default="")
    checkout.add_argument("--run-id", default="")
    checkout.add_argument(
        "-o", "--output", default="granary.lock", help="the lock file (default granary.lock)"
    )
    checkout.set_defaults(run=_checkout)

    verify = commands.add_parser("verify", parents=[common], help="re-hash local files against a lock file")
    verify.add_argument("lock")
    verify.add_argument("-d", "--dir", help="where `pull --lock -o DIR` put them (default: the cache)")
    verify.add_argument("--format", choices=["original", "parquet"], default="original")
    verify.set_defaults(run=_verify)
    return parser


def _client(args: argparse.Namespace, url: str | None = None) -> Client:
    return Client(url or args.url, args.token, progress=args.progress)


# What `granary login` says a token's scope lets it do.
SCOPE_NOTES = {
    "read": "It pulls and browses; `granary login --scope write` for one that may push.",
    "write": "It pulls, pushes and changes datasets.",
    "admin": "It may do everything you may.",
}


def _login(args: argparse.Namespace) -> int:
    url = args.server or args.url or config_load().get("url")
    client = _client(args, url)
    scope: str | None = None
    team: str | None = None
    if args.token:
        client.check_token()
        token, expires, who = args.token, None, args.username
    else:
        username = args.username or input("Username: ")
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
        issued = client.exchange_token(
            username,
            password,
            name=f"granary CLI on {socket.gethostname()}",
            scope=args.scope,
            team=args.team,
        )
        token, expires, who = issued["token"], issued.get("expires_at"), username
        # A server from before scopes answers without one: its tokens may do everything.
        scope, team = issued.get("scope"), issued.get("team")
    path = config_save({"url": client.url, "token": token, "username": who})
    if args.json:
        _print_json(
            {
                "url": client.url,
                "username": who,
                "config": str(path),
                "expires_at": expires,
                "scope": scope,
                "team": team,
            }
        )
    else:
        until = f", valid until {expires}" if expires else ""
        print(f"Signed in to {client.url} as {who}{until}. Token kept in {path} (mode 0600).")
        if scope:
            limit = f", limited to {team}" if team else ""
            print(f"The token's scope is {scope}{limit}. {SCOPE_NOTES.get(scope, '')}".rstrip())
    return 0


def _search(args: argparse.Namespace) -> int:
    # Filters first: the last word stays the one being typed, a prefix (`custom` finds customer).
    words = [f"tag:{args.tag}"] if args.tag else []
    words += [f"team:{args.team}"] if args.team else []
    words += [" ".join(args.query)] if args.query else []
    query = " ".join(words)
    sort = args.sort or ("popular" if args.popular else None)
    found = _client(args).search(query, sort=sort, page=args.page, per_page=args.per_page)
    if args.json:
        _print_json(found)
        return 0
    hits = found["results"]
    if found.get("corrected") and found.get("did_you_mean"):
        print(f"Nothing matches '{query}'; showing results for '{found['did_you_mean']}'.")
    if not hits:
        if found["total"]:
            print(f"No results on page {found['page']}: {found['total']} in all.")
        else:
            print("No dataset matches." if query else "No datasets you may see.")
        return 0
    rows = [("DATASET", "TITLE", "LATEST/CERTIFIED", "CHECKOUTS 90D", "MATCHED COLUMNS")]
    rows += [
        (
            hit["slug"],
            _cut(hit["title"], 40),
            _versions(hit),
            str(hit["checkouts_90d"]) if hit.get("readable", True) else "-",
            ", ".join(c["name"] + (" (PII)" if c["pii"] else "") for c in hit["matched_columns"]),
        )
        for hit in hits
    ]
    _print_table(rows)
    first = (found["page"] - 1) * found["per_page"] + 1
    more = f"; --page {found['page'] + 1} for more" if first + len(hits) - 1 < found["total"] else ""
    print(f"\n{first}-{first + len(hits) - 1} of {found['total']}, sorted by {found['sort']}{more}.")
    return 0


def _versions(hit: dict[str, Any]) -> str:
    if not hit.get("readable", True):
        return "restricted"
    latest, certified = hit.get("latest_version"), hit.get("certified_version")
    if latest is None:
        return "no ready version"
    return f"v{latest} / " + (f"v{certified}" if certified is not None else "-")


def _columns(args: argparse.Namespace) -> int:
    found = _client(args).columns(args.name, limit=args.limit, offset=args.offset)
    if args.json:
        _print_json(found)
        return 0
    columns = found["results"]
    if not columns:
        if found["total"]:
            print(f"No columns from {args.offset + 1} on: {found['total']} in all.")
        else:
            print(f"No column like '{args.name}' in a dataset you may read.")
        return 0
    rows = [("DATASET", "COLUMN", "TYPE", "PII", "DESCRIPTION")]
    rows += [
        (c["dataset"], c["name"], c["type"], "yes" if c["pii"] else "", _cut(c["description"], 50))
        for c in columns
    ]
    _print_table(rows)
    shown = f"{args.offset + 1}-{args.offset + len(columns)} of " if len(columns) < found["total"] else ""
    print(f"\n{shown}{found['total']} column(s).")
    return 0


def _query(args: argparse.Namespace) -> int:
    if args.save_as and args.output:
        raise GranaryError("Give --save-as (a new version) or --output (a file), not both.")
    if args.save_as:
        version = _client(args).query_save(
            args.sql,
            args.save_as,
            version=args.version,
            message=args.message,
            wait=args.wait,
            timeout=args.timeout,
        )
        if args.json:
            _print_json(version.raw)
        elif version.status == "ready":
            rows = f", {version.row_count:,} rows" if version.row_count is not None else ""
            print(f"{version.ref} ready: sha256 {version.sha256}{rows}")
        else:
            print(f"{version.ref} {version.status}: sha256 {version.sha256}")
        return 0
    if args.output:
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            path = _client(args).query_export(args.sql, args.output, version=args.version)
        for warning in warned:
            print(f"warning: {warning.message}", file=sys.stderr)
        if args.json:
            _print_json({"path": str(path), "size": path.stat().st_size, "truncated": bool(warned)})
        else:
            print(
                f"{path} ({human_bytes(path.stat().st_size)})"
                + (" (cut at the server's limit)" if warned else "")
            )
        return 0
    result = _client(args).query_json(args.sql, version=args.version)
    if args.json:
        _print_json(result)
        return 0
    names = [column["name"] for column in result["columns"]]
    cells = [[_cell(value) for value in row] for row in result["rows"]]
    # Numbers read best right-aligned, as in any SQL shell.
    numeric = [
        all(
            isinstance(row[i], (int, float)) and not isinstance(row[i], bool)
            for row in result["rows"]
            if row[i] is not None
        )
        for i in range(len(names))
    ]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(names)]
    for row in [names, *cells]:
        line = [
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(row, widths, numeric, strict=True)
        ]
        print("  ".join(line).rstrip())
    cut = " (cut at the server's row limit: aggregate or add a LIMIT)" if result["truncated"] else ""
    print(f"\n{len(cells)} row(s) in {result['elapsed_ms']:.0f} ms{cut}.")
    return 0


def _cell(value: Any) -> str:
    """A value as one line: nulls empty, lists and structs as compact JSON, long text cut."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, separators=(",", ":"), default=str)
    return _cut(str(value), 60)


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    """Rows in columns as wide as their widest cell; the last column is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())


def _info(args: argparse.Namespace) -> int:
    version = _client(args).resolve(args.ref)
    if args.json:
        _print_json(version.raw)
        return 0
    raw = version.raw
    lines = [
        f"{args.ref} → {version.ref}" + (f"  (@{', @'.join(version.aliases)})" if version.aliases else ""),
        f"status      {version.status}" + (f": {version.failure_reason}" if version.failure_reason else ""),
        f"sha256      {version.sha256}",
        f"size        {human_bytes(version.size)} ({version.size:,} bytes)",
        f"format      {version.format or '—'}"
        + (f" ({raw['compression']})" if raw.get("compression") else ""),
        f"rows        {version.row_count:,}" if version.row_count is not None else "rows        —",
        f"uploaded    {version.created_at} by {version.created_by or '—'}",
    ]
    if version.message:
        lines.append(f"message     {version.message}")
    if raw.get("schema"):
        lines.append("columns     " + ", ".join(f"{c['name']} ({c['type']})" for c in raw["schema"]))
    print("\n".join(lines))
    return 0


def _pull(args: argparse.Namespace) -> int:
    client = _client(args)
    rows: list[dict[str, Any]]
    if args.lock:
        if args.ref or args.columns or args.format in ("csv", "jsonl"):
            raise ConfigError(
                "pull --lock takes no reference, --columns or export format: the lock names them."
            )
        fmt = args.format or "original"
        manifest = Manifest.load(args.lock)
        paths = client.pull_manifest(manifest, args.output, format=cast(Any, fmt))
        rows = [
            {
                "ref": item.ref,
                "version": item.pinned,
                "sha256": item.parquet_sha256 if fmt == "parquet" else item.sha256,
                "path": str(path),
            }
            for item, path in zip(manifest.items, paths, strict=True)
        ]
    else:
        if not args.ref:
            raise ConfigError(
                "Name a reference (granary pull churn@prod) or a lock file (granary pull --lock granary.lock)."
            )
        columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
        fmt = args.format or ("parquet" if columns else "original")
        version = client.resolve(args.ref)
        path = client.download(version, args.output, format=cast(Any, fmt), columns=columns)
        digest = None
        if fmt in ("original", "parquet") and not columns:
            digest = version.sha256 if fmt == "original" else version.parquet_sha256
        rows = [{"ref": args.ref, "version": version.ref, "sha256": digest, "path": str(path)}]
    if args.json:
        _print_json(rows if args.lock else rows[0])
    else:
        for row in rows:
            check = f"sha256 {row['sha256'][:12]}… verified" if row["sha256"] else "export, no digest"
            print(f"{row['version']}  {row['path']}  ({check})")
    return 0


def _push(args: argparse.Namespace) -> int:
    client = _client(args)
    version = client.upload(
        args.dataset,
        args.file,
        message=args.message,
        derived_from=args.derived_from,
        code_url=args.code_url,
        wait=args.wait,
        timeout=args.timeout,
        direct=args.direct,
    )
    if args.json:
        _print_json(version.raw)
    elif version.status == "ready":
        rows = f"{version.row_count:,} rows" if version.row_count is not None else ""
        print(f"{version.ref} ready: sha256 {version.sha256}, {rows}")
    else:
        print(f"{version.ref} {version.status}: sha256 {version.sha256}")
    return 0


def _checkout(args: argparse.Namespace) -> int:
    manifest = _client(args).checkout(args.refs, purpose=args.purpose, model=args.model, run_id=args.run_id)
    path = manifest.save(args.output)
    if args.json:
        _print_json({**manifest.to_lock(), "lock": str(path)})
        return 0
    print(f"Checkout {manifest.id} → {path}")
    for item in manifest.items:
        print(f"  {item.ref:<28} {item.pinned:<20} sha256 {item.sha256[:16]}…  {human_bytes(item.size)}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    # Files on disk, or in the cache: no server is needed.
    results = manifest_verify(args.lock, dest=args.dir, format=args.format)
    bad = [r for r in results if r[2] is not None]
    if args.json:
        _print_json(
            [
                {"version": item.pinned, "path": str(path), "ok": problem is None, "problem": problem}
                for item, path, problem in results
            ]
        )
    else:
        for item, path, problem in results:
            print(
                f"{'ok ' if problem is None else 'BAD'} {item.pinned:<20} {path}"
                + (f"  ({problem})" if problem else "")
            )
    if bad:
        if not args.json:
            _error(f"{len(bad)} of {len(results)} file(s) do not match {args.lock}")
        return IntegrityError.exit_code
    return 0


def _hint(exc: GranaryError) -> str:
    """How to get a token that may, when the server refused this one's scope."""
    needed = re.search(r"with the (write|admin) scope", exc.detail) if exc.code == "token_scope" else None
    if needed is None:
        return ""
    return f" Sign in for such a token with `granary login --scope {needed.group(1)}`."


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _error(message: str) -> None:
    print(f"granary: error: {message}", file=sys.stderr)


__all__ = ["main", "split_ref"]
