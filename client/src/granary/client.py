"""The Python client: resolve references, pull verified bytes, read DataFrames, record checkouts
and upload new versions. Plain HTTP with `requests`; pandas and pyarrow only for `read()`."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import quote, urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from granary import __version__
from granary.cache import Cache, file_sha256
from granary.config import settings_resolve
from granary.errors import Conflict, GranaryError, NotFound, TransferError, error_from_response
from granary.manifest import Manifest, ManifestItem
from granary.progress import Progress
from granary.transfer import (
    FileBody,
    MultipartFile,
    content_disposition,
    fetch_verified,
    hash_file,
    hash_parts,
    part_size_for,
    stream_to_file,
    upload_parts,
)

if TYPE_CHECKING:
    import pandas
    import pyarrow

Format = Literal["original", "parquet", "csv", "jsonl"]
STORED_FORMATS = ("original", "parquet")
# Below S3's smallest part a direct upload saves nothing: such files always go through the server.
DIRECT_MIN_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Version:
    """One version of a dataset, as the server describes it."""

    dataset: str
    number: int
    status: str
    sha256: str
    size: int
    format: str
    row_count: int | None
    parquet_sha256: str | None
    aliases: list[str]
    message: str
    created_by: str | None
    created_at: str
    download_url: str | None
    failure_reason: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ref(self) -> str:
        """The reference that names exactly this version: `churn@3`."""
        return f"{self.dataset}@{self.number}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Version:
        return cls(
            dataset=data["dataset"],
            number=int(data["number"]),
            status=data["status"],
            sha256=data["sha256"],
            size=int(data["size"]),
            format=data.get("format") or "",
            row_count=data.get("row_count"),
            parquet_sha256=data.get("parquet_sha256"),
            aliases=list(data.get("aliases") or []),
            message=data.get("message") or "",
            created_by=data.get("created_by"),
            created_at=data.get("created_at") or "",
            download_url=data.get("download_url"),
            failure_reason=data.get("failure_reason") or "",
            raw=data,
        )


def split_ref(ref: str) -> tuple[str, str]:
    """`churn@prod` as ("churn", "prod"); a bare `churn` means `churn@latest`."""
    slug, _, version = ref.strip().partition("@")
    if not slug:
        raise NotFound(f"'{ref}' names no dataset: write <dataset>@<version>, e.g. churn@3.")
    return slug, version or "latest"


class Client:
    """A Granary server, as one user.

    `url` and `token` default to GRANARY_URL and GRANARY_TOKEN, then to what `granary login`
    saved. Downloads are cached by sha256 under `cache_dir` (GRANARY_CACHE_DIR, else
    ~/.cache/granary). `progress=None` draws progress bars on stderr when it is a terminal.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        timeout: float = 60.0,
        progress: bool | None = False,
        session: requests.Session | None = None,
    ) -> None:
        settings = settings_resolve(url, token)
        self.url = settings.url
        self.timeout = timeout
        self.progress = progress
        self.cache = Cache(cache_dir)
        self.session = session or requests.Session()
        if session is None:
            # A connection the server (or a load balancer) closed while idle fails the next
            # request sent on it: retry reads on a fresh connection. Writes are never retried.
            retry = Retry(
                total=3,
                connect=3,
                read=2,
                status=0,
                other=0,
                allowed_methods=frozenset({"GET", "HEAD", "OPTIONS"}),
                backoff_factor=0.1,
                raise_on_status=False,
            )
            adapter = HTTPAdapter(max_retries=retry)
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"granary-client/{__version__}"
        if settings.token:
            self.session.headers["Authorization"] = f"Bearer {settings.token}"

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # --- reading ----------------------------------------------------------------------------------

    def resolve(self, ref: str) -> Version:
        """The exact version a reference names now: `churn@3`, `churn@latest`, `churn@certified`,
        `churn@prod`, `churn@sha256:<12+ hex>` or `churn` (latest)."""
        slug, version = split_ref(ref)
        return Version.from_json(self._get_json(f"/api/v1/datasets/{_q(slug)}/versions/{_q(version)}/"))

    def dataset(self, slug: str) -> dict[str, Any]:
        return dict(self._get_json(f"/api/v1/datasets/{_q(slug)}/"))

    def search(
        self,
        q: str = "",
        *,
        sort: str | None = None,
        page: int = 1,
        per_page: int | None = None,
        facets: bool = True,
    ) -> dict[str, Any]:
        """One page of the datasets `q` finds, best first, as the server's JSON: `total`, `page`,
        `per_page`, `sort`, `did_you_mean`, `corrected`, `facets` and `results` (each with `slug`,
        `title`, `summary`, `team`, `snippet`, `matched_columns`, `score`, `latest_version`,
        `certified_version`, `checkouts_90d` and `readable`). `q` takes words, "phrases" and
        filters such as `column:email tag:nlp certified:yes -tag:deprecated`; `sort` is relevance,
        popular, updated or name. A malformed query raises GranaryError saying where.
        `facets=False` leaves the facet counts out (`facets` is then None), for a faster answer."""
        params: dict[str, Any] = {"q": q, "page": page, "facets": "true" if facets else "false"}
        if sort:
            params["sort"] = sort
        if per_page is not None:
            params["per_page"] = per_page
        return dict(self._get_json("/api/v1/search/?" + urlencode(params)))

    def suggest(self, q: str) -> list[dict[str, Any]]:
        """Up to 10 completions of what has been typed: datasets, then tag: and column: filters."""
        return list(self._get_json("/api/v1/search/suggest/?" + urlencode({"q": q})))

    def columns(self, q: str, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """Which datasets have a column like `q` (its name contains it, any case; exactly it when
        shorter than 3 characters): `{"total", "results": [{"dataset", "dataset_title", "name",
        "type", "description", "pii"}]}`, the exact name first. Only datasets you may read."""
        params = {"q": q, "limit": limit, "offset": offset}
        return dict(self._get_json("/api/v1/columns/?" + urlencode(params)))

    def datasets(
        self, query: str = "", *, tag: str = "", team: str = "", ordering: str = "slug", limit: int = 100
    ) -> list[dict[str, Any]]:
        """Datasets you may see, browsed as a list (GET /api/v1/datasets/): `query` matches words
        of the title, summary or slug, `tag` and `team` filter; `ordering` is slug, title or
        popular. Unranked: `search()` ranks, highlights and counts facets."""
        params = {key: value for key, value in {"q": query, "tag": tag, "team": team}.items() if value}
        url: str | None = self._url("/api/v1/datasets/?" + urlencode({**params, "ordering": ordering}))
        found: list[dict[str, Any]] = []
        while url and len(found) < limit:
            page = self._get_json(url)
            found.extend(page["results"])
            url = page.get("next")
        return found[:limit]

    def download(
        self,
        ref: str | Version,
        path: str | os.PathLike[str] | None = None,
        *,
        format: Format = "parquet",
        columns: Sequence[str] | None = None,
    ) -> Path:
        """Download a version and return where it is.

        `format="original"` is the file as uploaded, `"parquet"` the normalized copy: both are
        verified against their sha256 (the server's ETag), resumed with Range if interrupted,
        and cached by digest, so a second pull costs no transfer. Without `path` the cached file
        itself is returned (read-only); with one, a copy is written there. `"csv"`, `"jsonl"` or
        `columns=` are exports the server makes on the fly: streamed, not cached, and with no
        digest to verify.
        """
        version = ref if isinstance(ref, Version) else self.resolve(ref)
        self._require_ready(version, version.ref if isinstance(ref, Version) else ref)
        if format in STORED_FORMATS and not columns:
            cached = self._fetch(version, format)
            return _place(cached, path, version_filename(version, format)) if path is not None else cached
        if format not in ("original", "parquet", "csv", "jsonl"):
            raise GranaryError(f"format={format!r}: use original, parquet, csv or jsonl.")
        if format == "original":
            raise GranaryError("columns= needs format parquet, csv or jsonl: the original is served whole.")
        query = {"format": format, **({"columns": ",".join(columns)} if columns else {})}
        url = f"{self._download_url(version)}?{urlencode(query)}"
        target = (
            Path(path) if path is not None else self.cache.root / "exports" / _export_name(version, query)
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        return stream_to_file(
            session=self.session,
            url=url,
            path=target,
            label=version.ref,
            progress=self._progress,
            timeout=self.timeout,
        )

    def read(
        self,
        ref: str,
        columns: Sequence[str] | None = None,
        *,
        engine: Literal["pandas", "arrow"] = "pandas",
    ) -> pandas.DataFrame | pyarrow.Table:
        """A version as a pandas DataFrame (or, with `engine="arrow"`, an Arrow table), read from
        its verified, cached Parquet copy; `columns` picks columns. Needs pyarrow (and pandas)."""
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise GranaryError(
                "read() needs pyarrow (and pandas): pip install 'granary-client[pandas]'."
            ) from None
        table = pq.read_table(
            self.download(ref, format="parquet"), columns=list(columns) if columns else None
        )
        if engine == "arrow":
            return table
        return table.to_pandas()

    def query_json(self, sql: str, *, version: str | None = None) -> dict[str, Any]:
        """The server's answer to one read-only SELECT (POST /api/v1/query/): `columns` (name and
        DuckDB type), `rows`, `truncated`, `elapsed_ms` and `versions` read. Versions are named by
        reference in double quotes (`FROM "churn@3"`); `version` is the one read as `data`."""
        body: dict[str, Any] = {"sql": sql}
        if version:
            body["version"] = version
        return dict(self._request("POST", "/api/v1/query/", json=body))

    @overload
    def query(
        self, sql: str, *, version: str | None = None, save_as: None = None
    ) -> pandas.DataFrame | list[dict[str, Any]]: ...

    @overload
    def query(
        self,
        sql: str,
        *,
        version: str | None = None,
        save_as: str,
        message: str = "",
        wait: bool = False,
        timeout: float = 3600.0,
    ) -> Version: ...

    def query(
        self,
        sql: str,
        *,
        version: str | None = None,
        save_as: str | None = None,
        message: str = "",
        wait: bool = False,
        timeout: float = 3600.0,
    ) -> pandas.DataFrame | list[dict[str, Any]] | Version:
        """The result of one read-only SELECT as a pandas DataFrame (its `attrs` hold `truncated`,
        `elapsed_ms` and `versions`), or as a list of dicts where pandas is not installed. At most
        the server's GRANARY_QUERY_MAX_ROWS rows: aggregate in SQL, or pull the version to read all.

        With `save_as` (a dataset you may write), the whole result becomes its next version
        instead, derived from every version the SQL reads: returned once a worker has made it
        (processing), or with `wait=True` once it is ready; a save or version that fails raises
        Conflict with the reason."""
        if save_as is not None:
            return self.query_save(sql, save_as, version=version, message=message, wait=wait, timeout=timeout)
        result = self.query_json(sql, version=version)
        names = [column["name"] for column in result["columns"]]
        try:
            import pandas
        except ImportError:
            return [dict(zip(names, row, strict=True)) for row in result["rows"]]
        frame = pandas.DataFrame(result["rows"], columns=names)
        frame.attrs.update({key: result[key] for key in ("truncated", "elapsed_ms", "versions")})
        return frame

    def query_save(
        self,
        sql: str,
        dataset: str,
        *,
        version: str | None = None,
        message: str = "",
        wait: bool = False,
        timeout: float = 3600.0,
        interval: float = 0.5,
    ) -> Version:
        """Save the whole result of `sql` as the next version of `dataset` (see `query`)."""
        body: dict[str, Any] = {"sql": sql, "save_as": {"dataset": dataset, "message": message}}
        if version:
            body["version"] = version
        save = self._request("POST", "/api/v1/query/", json=body, expect=(202,))
        deadline = time.monotonic() + timeout
        while save["status"] == "pending":
            if time.monotonic() > deadline:
                raise TransferError(f"The query saved as {dataset} is still pending after {timeout:.0f} s.")
            time.sleep(interval)
            save = self._get_json(save["url"])
        if save["status"] == "failed":
            raise Conflict(
                f"Saving the query as {dataset} failed: {save['error']}", status=409, code="failed"
            )
        made = Version.from_json(self._get_json(save["version_url"]))
        remaining = max(0.0, deadline - time.monotonic())
        return self.wait(made.ref, timeout=remaining, interval=interval) if wait else made

    def query_export(
        self,
        sql: str,
        dest: str | os.PathLike[str],
        *,
        version: str | None = None,
        format: Literal["csv", "parquet"] | None = None,
    ) -> Path:
        """Write the whole result of `sql` (up to the server's GRANARY_QUERY_EXPORT_MAX_ROWS rows)
        to `dest` as CSV or Parquet, by default as its suffix says. A result cut at that limit is
        written, and a warning says so. Returns the path."""
        path = Path(dest)
        chosen = format or path.suffix.lower().lstrip(".")
        if chosen not in ("csv", "parquet"):
            raise GranaryError(f"Write a .csv or .parquet file (or give format=): not '{path.name}'.")
        body: dict[str, Any] = {"sql": sql, "format": chosen}
        if version:
            body["version"] = version
        url = self._url("/api/v1/query/")
        try:
            response = self.session.post(url, json=body, stream=True, timeout=(10, self.timeout))
        except requests.exceptions.RequestException as exc:
            raise TransferError(f"POST {url} failed: {exc}") from None
        with response:
            if response.status_code != 200:
                try:
                    error = response.json()
                except ValueError:
                    error = None
                raise error_from_response(
                    response.status_code, error, f"POST {url}: HTTP {response.status_code} {response.reason}"
                )
            partial = path.with_name(f".{path.name}.part")
            try:
                with partial.open("wb") as out:
                    for chunk in response.iter_content(1024 * 1024):
                        out.write(chunk)
                partial.replace(path)
            finally:
                partial.unlink(missing_ok=True)
            if response.headers.get("X-Granary-Truncated") == "true":
                warnings.warn(
                    f"{path.name}: the result was cut at the server's limit of "
                    f"{response.headers.get('X-Granary-Rows')} rows (GRANARY_QUERY_EXPORT_MAX_ROWS).",
                    stacklevel=2,
                )
        return path

    # --- checkouts --------------------------------------------------------------------------------

    def checkout(
        self, refs: Iterable[str] | str, *, purpose: str, model: str = "", run_id: str = ""
    ) -> Manifest:
        """Resolve references once into exact versions, recorded for `purpose` (and the model and
        run trained on them). `manifest.save("granary.lock")` keeps it; `pull_manifest` pulls the
        same bytes from it later, wherever aliases have moved since."""
        refs = [refs] if isinstance(refs, str) else list(refs)
        body = {"refs": refs, "purpose": purpose, "model": model, "run_id": run_id}
        data = self._request("POST", "/api/v1/checkouts/", json=body)
        return Manifest.from_json(data, server=self.url)

    def get_checkout(self, checkout_id: str) -> Manifest:
        return Manifest.from_json(self._get_json(f"/api/v1/checkouts/{_q(checkout_id)}/"), server=self.url)

    def pull_manifest(
        self,
        manifest: Manifest | str | os.PathLike[str],
        dest: str | os.PathLike[str] | None = None,
        *,
        format: Literal["original", "parquet"] = "original",
    ) -> list[Path]:
        """Download exactly the versions a manifest (or a lock file) names, verified by the
        digests it recorded; into `dest` (a directory, under each item's file name) or just the
        cache. The server is not asked to resolve anything again."""
        if not isinstance(manifest, Manifest):
            manifest = Manifest.load(manifest)
        paths = []
        for item in manifest.items:
            url, sha256 = self._item_source(item, format)
            cached = fetch_verified(
                session=self.session,
                url=url,
                sha256=sha256,
                cache=self.cache,
                label=item.pinned,
                progress=self._progress,
                timeout=self.timeout,
            )
            if dest is not None:
                directory = Path(dest)
                directory.mkdir(parents=True, exist_ok=True)
                paths.append(_place(cached, directory, item_filename(item, format)))
            else:
                paths.append(cached)
        return paths

    def verify_manifest(
        self,
        manifest: Manifest | str | os.PathLike[str],
        dest: str | os.PathLike[str] | None = None,
        *,
        format: Literal["original", "parquet"] = "original",
    ) -> list[tuple[ManifestItem, Path, str | None]]:
        """Hash the local copies of a manifest's items again (see `manifest_verify`)."""
        return manifest_verify(manifest, dest=dest, cache=self.cache, format=format)

    # --- writing ----------------------------------------------------------------------------------

    def upload(
        self,
        dataset: str,
        path: str | os.PathLike[str],
        *,
        message: str = "",
        derived_from: Sequence[str] = (),
        code_url: str = "",
        wait: bool = False,
        timeout: float = 3600.0,
        direct: bool | None = None,
    ) -> Version:
        """Upload a file as the next version of `dataset`, streamed from disk. With `wait=True`,
        return once a worker has made it ready; a version that fails raises Conflict with the
        reason. `derived_from` names upstream versions (`raw@12`) for lineage.

        A file over the server's direct-upload threshold goes straight to its object storage in
        parallel parts (`direct=None`, the default); `direct=True` sends any file that way
        where the server allows it, `direct=False` always through the server. On a server that
        stores files itself the upload goes through it. Through the server to object storage, the
        file's sha256 is declared up front, so the server sends it on as it arrives."""
        source = Path(path)
        if not source.is_file():
            raise NotFound(f"No file {source}.")
        size = source.stat().st_size
        headers: dict[str, str] = {}
        if size >= DIRECT_MIN_BYTES:
            options = self._upload_options(dataset)
            threshold = int(options.get("direct_threshold_bytes", 0))
            if direct is not False and options.get("direct") and (direct or size > threshold):
                version = self._upload_direct(
                    dataset,
                    source,
                    size,
                    message=message,
                    derived_from=derived_from,
                    code_url=code_url,
                    part_bytes=int(options.get("part_bytes") or 0),
                )
                if version is not None:
                    return self.wait(version.ref, timeout=timeout) if wait else version
            if options.get("direct"):
                # Object storage: with the digest declared up front (RFC 9530), the server sends
                # the file on to storage while it receives it rather than after, and refuses
                # bytes that differ from it (a file changed while it was being sent).
                with self._progress(f"{dataset} ← {source.name} (sha256)", size, 0) as bar:
                    digest = bytes.fromhex(hash_file(source, bar.update))
                headers["Repr-Digest"] = f"sha-256=:{base64.b64encode(digest).decode()}:"
        fields = [("message", message)]
        fields += [("derived_from", ref) for ref in derived_from]
        if code_url:
            fields.append(("code_url", code_url))
        url = f"/api/v1/datasets/{_q(dataset)}/versions/"
        with self._progress(f"{dataset} ← {source.name}", size, 0) as bar:
            # The file as the whole body, its fields in the query string: the server reads it
            # without scanning for a multipart boundary (about 1.4 s of its CPU per GiB).
            raw = FileBody(source, on_chunk=bar.update)
            try:
                data = self._request(
                    "POST",
                    url,
                    params=fields,
                    data=raw,
                    headers={
                        "Content-Type": raw.content_type,
                        "Content-Disposition": content_disposition(source.name),
                        **headers,
                    },
                    expect=(202,),
                )
            except GranaryError as exc:
                if exc.status != 415:
                    raise
                # A server that predates raw bodies takes the multipart form.
                bar.restart()
                body = MultipartFile(fields=fields, path=source, filename=source.name, on_chunk=bar.update)
                data = self._request(
                    "POST",
                    url,
                    data=body,
                    headers={"Content-Type": body.content_type, **headers},
                    expect=(202,),
                )
        version = Version.from_json(data)
        return self.wait(version.ref, timeout=timeout) if wait else version

    def _upload_options(self, dataset: str) -> dict[str, Any]:
        """How the server takes uploads to `dataset`; nothing direct from a server that predates
        direct uploads (or a dataset it cannot find: the upload itself then says so)."""
        try:
            return dict(self._get_json(f"/api/v1/datasets/{_q(dataset)}/uploads/") or {})
        except NotFound:
            return {}

    def _upload_direct(
        self,
        dataset: str,
        source: Path,
        size: int,
        *,
        message: str,
        derived_from: Sequence[str],
        code_url: str,
        part_bytes: int,
    ) -> Version | None:
        """Parts straight to storage, then `complete`; None if the server sends the file back to
        the usual path (its storage changed to the filesystem meanwhile). Each part's CRC32 is
        declared with the sha256 (the same read), so storage checks every part as it arrives."""
        label = f"{dataset} ← {source.name}"
        part_size = part_size_for(size, part_bytes)
        with self._progress(f"{label} (sha256)", size, 0) as bar:
            sha256, crcs = hash_parts(source, bar.update, part_size)
        body = {
            "filename": source.name,
            "size": size,
            "sha256": sha256,
            "message": message,
            "derived_from": list(derived_from),
            "code_url": code_url,
            "part_size": part_size,
            "part_crc32": crcs,
        }
        try:
            started = self._request(
                "POST", f"/api/v1/datasets/{_q(dataset)}/uploads/", json=body, expect=(201,)
            )
        except Conflict as exc:
            if exc.code == "direct_upload_unsupported":
                return None
            raise
        try:
            with self._progress(label, size, 0) as bar:
                etags = upload_parts(
                    path=source,
                    size=size,
                    part_size=int(started["part_size"]),
                    urls=[part["url"] for part in started["parts"]],
                    # A server that predates part checksums answers none: nothing more to send.
                    headers=[dict(part.get("headers") or {}) for part in started["parts"]],
                    refresh=lambda: [p["url"] for p in self._get_json(started["abort_url"])["parts"]],
                    on_chunk=bar.update,
                    timeout=self.timeout,
                )
            parts = [{"number": number, "etag": etag} for number, etag in enumerate(etags, start=1)]
            data = self._request("POST", started["complete_url"], json={"parts": parts}, expect=(202,))
        except BaseException:
            # Parts left in storage are billed until aborted (the server's sweeper would, later).
            with contextlib.suppress(GranaryError):
                self._request("DELETE", started["abort_url"], expect=(204, 409))
            raise
        return Version.from_json(data)

    def wait(self, ref: str, *, timeout: float = 3600.0, interval: float = 0.5) -> Version:
        """Poll a version until it leaves `processing`: return it ready, or raise Conflict."""
        deadline = time.monotonic() + timeout
        while True:
            version = self.resolve(ref)
            if version.status == "ready":
                return version
            if version.status == "failed":
                raise Conflict(f"{version.ref} failed: {version.failure_reason}", status=409, code="failed")
            if time.monotonic() > deadline:
                raise TransferError(f"{version.ref} is still {version.status} after {timeout:.0f} s.")
            time.sleep(interval)

    # --- accounts ---------------------------------------------------------------------------------

    def exchange_token(
        self, username: str, password: str, *, name: str = "", scope: str = "read", team: str = ""
    ) -> dict[str, Any]:
        """A new API token for a username and password (what `granary login` does). `scope` is
        what it may do: `read` (pull and browse, the default), `write` (also push and change
        datasets) or `admin` (also manage teams); `team` limits what it may change to one team."""
        body = {"username": username, "password": password, "name": name[:100], "scope": scope}
        if team:
            body["team"] = team
        return dict(self._request("POST", "/api/v1/auth/token/", json=body))

    def check_token(self) -> None:
        """Raise AuthError unless the client's token is valid."""
        self._get_json("/api/v1/tokens/")

    # --- plumbing ---------------------------------------------------------------------------------

    def _fetch(self, version: Version, format: str) -> Path:
        if format == "parquet":
            if not version.parquet_sha256:
                raise Conflict(f"{version.ref} has no Parquet copy.")
            url, sha256 = f"{self._download_url(version)}?format=parquet", version.parquet_sha256
        else:
            url, sha256 = self._download_url(version), version.sha256
        return fetch_verified(
            session=self.session,
            url=url,
            sha256=sha256,
            cache=self.cache,
            label=version.ref,
            progress=self._progress,
            timeout=self.timeout,
        )

    def _item_source(self, item: ManifestItem, format: str) -> tuple[str, str]:
        if format == "parquet":
            if not item.parquet_url or not item.parquet_sha256:
                raise Conflict(f"{item.pinned} has no Parquet copy in the manifest.")
            return self._rebase(item.parquet_url), item.parquet_sha256
        return self._rebase(item.download_url), item.sha256

    def _rebase(self, url: str) -> str:
        """A manifest's URL on this client's server (the server may have moved since: the digest,
        not the host, is what pins the bytes)."""
        parts = urlsplit(url)
        return self._url(parts.path + (f"?{parts.query}" if parts.query else ""))

    def _download_url(self, version: Version) -> str:
        return self._url(f"/api/v1/datasets/{_q(version.dataset)}/versions/{version.number}/download/")

    def _require_ready(self, version: Version, ref: str) -> None:
        if version.status != "ready":
            reason = f" ({version.failure_reason})" if version.failure_reason else ""
            which = version.ref if ref == version.ref else f"{ref} ({version.ref})"
            raise Conflict(
                f"{which} is {version.status}{reason}: only ready versions can be pulled.", status=409
            )

    def _progress(self, label: str, total: int | None, initial: int) -> Progress:
        return Progress(label, total, initial=initial, enabled=self.progress)

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self.url + path_or_url

    def _get_json(self, path_or_url: str) -> Any:
        return self._request("GET", path_or_url)

    def _request(self, method: str, path_or_url: str, *, expect: tuple[int, ...] = (), **kwargs: Any) -> Any:
        url = self._url(path_or_url)
        try:
            response = self.session.request(method, url, timeout=(10, self.timeout), **kwargs)
        except requests.exceptions.RequestException as exc:
            raise TransferError(f"{method} {url} failed: {exc}") from None
        ok = response.status_code in expect if expect else 200 <= response.status_code < 300
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if not ok:
            raise error_from_response(
                response.status_code, body, f"{method} {url}: HTTP {response.status_code} {response.reason}"
            )
        return body


def manifest_verify(
    manifest: Manifest | str | os.PathLike[str],
    *,
    dest: str | os.PathLike[str] | None = None,
    cache: Cache | None = None,
    format: Literal["original", "parquet"] = "original",
) -> list[tuple[ManifestItem, Path, str | None]]:
    """Hash local copies of a manifest's items again, with no server: the files in `dest` (named
    as `pull_manifest` names them), or else the cache's. Returns (item, path, problem), problem
    None for each intact file."""
    if not isinstance(manifest, Manifest):
        manifest = Manifest.load(manifest)
    cache = cache or Cache()
    results: list[tuple[ManifestItem, Path, str | None]] = []
    for item in manifest.items:
        sha256 = item.parquet_sha256 if format == "parquet" else item.sha256
        if not sha256:
            results.append((item, Path(), "no Parquet copy in the manifest"))
        elif dest is not None:
            path = Path(dest) / item_filename(item, format)
            if not path.exists():
                results.append((item, path, "missing"))
                continue
            actual = file_sha256(path)
            results.append((item, path, None if actual == sha256 else f"sha256 is {actual}"))
        else:
            ok = cache.verify(sha256)
            results.append(
                (item, cache.path(sha256), None if ok else "missing from the cache, or corrupt (removed)")
            )
    return results


def item_filename(item: ManifestItem, format: str) -> str:
    if format == "parquet":
        return f"{item.dataset}-v{item.version}.parquet"
    return item.filename


def version_filename(version: Version, format: str) -> str:
    """What the server calls the download: `churn-v3.csv`, `churn-v3.jsonl.gz`, `churn-v3.parquet`."""
    if format == "parquet":
        return f"{version.dataset}-v{version.number}.parquet"
    extension = version.format if version.format in ("csv", "tsv", "parquet", "jsonl") else "bin"
    gzip = ".gz" if version.raw.get("compression") == "gzip" else ""
    return f"{version.dataset}-v{version.number}.{extension}{gzip}"


def _place(cached: Path, path: str | os.PathLike[str], name: str) -> Path:
    """A writable copy of a cached file at `path` (in it, under `name`, if `path` is a directory
    or ends with a slash), written atomically so a reader never sees half a file. Missing parent
    directories are made, as an export's are: `download(ref, "data/x.parquet")` in a new checkout."""
    target = Path(path)
    if target.is_dir() or str(path).endswith(("/", os.sep)):
        target = target / name
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.part")
    shutil.copyfile(cached, temporary)
    os.replace(temporary, target)
    return target


def _export_name(version: Version, query: dict[str, str]) -> str:
    suffix = urlencode(sorted(query.items())).replace("&", "_").replace("=", "-").replace("%2C", "+")
    return f"{version.dataset}-v{version.number}-{suffix}.{query['format']}"


def _q(part: str) -> str:
    return quote(part, safe=":@")
