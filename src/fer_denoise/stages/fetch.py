"""Stage `fetch`: put the dataset file in data/raw/, from a URL or a file the user already has.

Where the file comes from, first match wins:
1. the environment variable FER2013_PATH (a local file; FER2013 only);
2. the one data file in data/external/ (drop your download there);
3. params.yaml `data.source`: a URL (default: the Kaggle download) or a local path.
An image-folder dataset (`data.dataset: images`) may also come as a folder, which is packed
into a zip with sorted names and fixed timestamps: the same images give the same bytes.
dvc.lock records the hash of what lands in data/raw/, whichever way it came.
"""

import base64
import gzip
import hashlib
import ipaddress
import os
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from fer_denoise.errors import UserError, run_stage
from fer_denoise.fer2013 import detect_format
from fer_denoise.files import atomic_path
from fer_denoise.image_folders import image_files
from fer_denoise.params import load_params
from fer_denoise.paths import EXTERNAL_DIR, RAW_DIR
from fer_denoise.untrusted import (
    CORRUPT,
    MAX_IMAGE_BYTES,
    MAX_MEMBERS,
    MAX_TABLE_BYTES,
    csv_member,
    mib,
    open_zip,
    too_large,
)

ENV_PATH = "FER2013_PATH"
KNOWN_MD5 = {"f8428a1edbd21e88f42c73edd2a14f95": "the original competition fer2013.csv"}
SUFFIXES = {"gzip": ".csv.gz", "zip": ".zip", "csv": ".csv"}
HOW_TO_GET = (
    "Get FER2013 from Kaggle in a browser (https://www.kaggle.com/datasets/deadskull7/fer2013 "
    "for fer2013.csv, or https://www.kaggle.com/datasets/msambare/fer2013 for the image "
    "folders), then either put the file in data/external/, run `FER2013_PATH=/path/to/file "
    "dvc repro`, or set data.source in params.yaml to its path. For the Kaggle API, set "
    "KAGGLE_USERNAME and KAGGLE_KEY."
)
CHUNK = 1 << 20
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: packing ignores the files' mtimes


def resolve_source(
    source: str, environ: dict[str, str], external: Path = EXTERNAL_DIR, dataset: str = "fer2013"
) -> str:
    """The file or URL to fetch, by the order in the module docstring."""
    if dataset == "fer2013" and environ.get(ENV_PATH):
        return environ[ENV_PATH]
    if external.is_dir():
        dropped = sorted(
            p
            for p in external.iterdir()
            if p.is_file() and p.name != "README.md" and not p.name.startswith(".")
        )
        if len(dropped) > 1:
            names = ", ".join(p.name for p in dropped)
            raise UserError(
                f"{external}/ holds several files ({names}); keep only the FER2013 file there"
            )
        if dropped:
            return str(dropped[0])
    return source


def is_url(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme in ("http", "https")


def check_url(url: str) -> None:
    """Downloads go over https; plain http only to this machine (tests, local mirrors)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "https":
        return
    host = parsed.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UserError(
            f"data.source {url} uses plain http; use an https URL "
            "(http is accepted only for localhost)"
        )


def request_for(url: str, environ: dict[str, str]) -> urllib.request.Request:
    """A GET request with Kaggle credentials when KAGGLE_USERNAME and KAGGLE_KEY are set.

    The credentials go in an unredirected header: Kaggle answers with a redirect to a storage
    host, which must not receive them.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "fer-denoise"})  # noqa: S310
    if environ.get("KAGGLE_USERNAME") and environ.get("KAGGLE_KEY"):
        token = f"{environ['KAGGLE_USERNAME']}:{environ['KAGGLE_KEY']}".encode()
        request.add_unredirected_header(
            "Authorization", "Basic " + base64.b64encode(token).decode()
        )
    return request


def download(url: str, destination: Path, environ: dict[str, str]) -> None:
    """Stream `url` to `destination`, showing progress; a short read is an error."""
    check_url(url)  # https, or http to loopback: no file: or other schemes reach urlopen
    try:
        with urllib.request.urlopen(request_for(url, environ), timeout=60) as response:  # noqa: S310
            total = int(response.headers.get("Content-Length") or 0)
            received = 0
            with open(destination, "wb") as out:
                while chunk := response.read1(CHUNK):  # what has arrived, up to CHUNK
                    out.write(chunk)
                    received += len(chunk)
                    if total:
                        print(f"\r  {received >> 20} / {total >> 20} MiB", end="", flush=True)
            print(file=sys.stdout)
    except urllib.error.HTTPError as error:
        hint = " (Kaggle needs KAGGLE_USERNAME and KAGGLE_KEY)" if error.code in (401, 403) else ""
        raise UserError(
            f"download of {url} failed: HTTP {error.code} {error.reason}{hint}. {HOW_TO_GET}"
        ) from error
    except (urllib.error.URLError, OSError) as error:
        raise UserError(
            f"could not download {url} ({error}); this machine may be offline. {HOW_TO_GET}"
        ) from error
    if total and received != total:
        raise UserError(
            f"download of {url} stopped after {received} of {total} bytes; "
            f"run `dvc repro fetch` again. {HOW_TO_GET}"
        )


def _md5_of_stream(stream, source: str, limit: int | None = None) -> str:
    """MD5 of a stream's bytes; an error past `limit` bytes (a table no stage would read)."""
    digest, size = hashlib.md5(usedforsecurity=False), 0
    try:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if limit is not None and size > limit:
                raise too_large(source, limit)
    except CORRUPT as error:
        raise UserError(f"{source} is corrupt or truncated ({error}); download it again") from error
    return digest.hexdigest()


def dataset_md5(path: Path) -> str:
    """MD5 of the dataset's CSV bytes (inside a gzip or zip when compressed: the member that
    `prepare` parses), or of the whole file for an image zip."""
    with open(path, "rb") as f:
        kind = detect_format(f.read(4))
    if kind == "gzip":
        with gzip.open(path, "rb") as stream:
            return _md5_of_stream(stream, f"{path} (gzip)", MAX_TABLE_BYTES)
    if kind == "zip":
        with open_zip(path) as archive:
            member = csv_member(archive.namelist(), str(path))
            if member is not None:
                if archive.getinfo(member).file_size > MAX_TABLE_BYTES:  # zipfile reads no more
                    raise too_large(f"{path}!{member}", MAX_TABLE_BYTES)
                with archive.open(member) as stream:
                    return _md5_of_stream(stream, f"{path}!{member}")
    with open(path, "rb") as stream:
        return _md5_of_stream(stream, str(path))


def pack_folder(folder: Path, target: Path) -> None:
    """Zip the folder's PNG / JPEG files, sorted, stored, with fixed timestamps."""
    files = image_files(folder)
    if not files:
        raise UserError(f"{folder} holds no PNG or JPEG images; point data.source at the images")
    if len(files) > MAX_MEMBERS:
        raise UserError(
            f"{folder} holds {len(files):,} images, above the limit of {MAX_MEMBERS:,}; "
            "use a smaller dataset"
        )
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(files):
            size = files[name].stat().st_size
            if size > MAX_IMAGE_BYTES:
                raise UserError(
                    f"{folder}/{name} is {mib(size)}, above the limit of {mib(MAX_IMAGE_BYTES)} "
                    "for an image file; remove it, or downscale it"
                )
            archive.writestr(zipfile.ZipInfo(name, FIXED_TIME), files[name].read_bytes())
    print(f"packed {len(files)} images of {folder}")


def verify(path: Path, expected_md5: str | None, source: str, dataset: str = "fer2013") -> None:
    """Fail on a mismatch with data.md5; otherwise warn when the checksum is not a known one
    (FER2013 only: other datasets have no known checksums here)."""
    md5 = dataset_md5(path)
    if expected_md5 is not None:
        if md5 != expected_md5.lower():
            raise UserError(
                f"{source}: MD5 {md5} does not match data.md5 = {expected_md5}; the file is "
                "corrupt or a different version. Download it again, or set data.md5 to null "
                "to accept it."
            )
        print(f"{source}: MD5 {md5} matches data.md5")
    elif dataset != "fer2013":
        print(f"{source}: MD5 {md5} (set data.md5 to require it)")
    elif md5 in KNOWN_MD5:
        print(f"{source}: MD5 {md5} verified ({KNOWN_MD5[md5]})")
    else:
        print(
            f"warning: {source}: MD5 {md5} is not a known FER2013 checksum (a re-encoded or "
            "repackaged copy?); continuing. Set data.md5 to require a checksum.",
            file=sys.stderr,
        )


def fetch(
    source: str, expected_md5: str | None, environ: dict[str, str], dataset: str = "fer2013"
) -> Path:
    """Copy, pack or download the dataset into data/raw/ atomically; return the file's path."""
    with atomic_path(RAW_DIR) as tmp_dir:
        tmp_dir.mkdir()
        if is_url(source):
            name = Path(urllib.parse.urlparse(source).path).name or "fer2013"
            target = tmp_dir / "download"
            print(f"downloading {source}")
            download(source, target, environ)
        else:
            local = Path(source).expanduser()
            if dataset == "images" and local.is_dir():
                name, target = "images.zip", tmp_dir / "images.zip"
                pack_folder(local, target)
            elif not local.is_file() and dataset == "images":
                raise UserError(
                    f"data.source {local} does not exist: point it at the folder or zip of images"
                )
            elif not local.is_file():
                raise UserError(f"FER2013 file {local} does not exist. {HOW_TO_GET}")
            else:
                name, target = local.name, tmp_dir / local.name
                print(f"copying {local}")
                shutil.copyfile(local, target)
        with open(target, "rb") as f:
            suffix = SUFFIXES[detect_format(f.read(4))]
        final_name = name if name.endswith(suffix) else name.split(".")[0] + suffix
        target = target.rename(tmp_dir / final_name)
        verify(target, expected_md5, source, dataset)
    return RAW_DIR / final_name


def main() -> None:
    data = load_params().data
    dataset = data.dataset
    source = resolve_source(data.source, dict(os.environ), dataset=dataset)
    path = fetch(source, data.md5, dict(os.environ), dataset)
    print(f"fetched {path} ({path.stat().st_size >> 20} MiB)")


if __name__ == "__main__":
    run_stage(main)
