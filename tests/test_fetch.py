"""The download code against an HTTP server on 127.0.0.1, and the local-file paths."""

import gzip
import hashlib
import http.server
import io
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import write_fer_csv

from fer_denoise.errors import UserError
from fer_denoise.stages import fetch

ROOT = Path(__file__).parents[1]


class FakeKaggle(http.server.BaseHTTPRequestHandler):
    """Serves `payload` like Kaggle: /download redirects to /storage, which sends the zip."""

    payload = b""
    seen: dict[str, dict[str, str]] = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.seen[self.path] = dict(self.headers)
        if self.path == "/download":
            self.send_response(302)
            self.send_header("Location", "/storage/fer2013.zip")
            self.end_headers()
        elif self.path in ("/storage/fer2013.zip", "/short"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.payload)))
            self.end_headers()
            self.wfile.write(self.payload if self.path != "/short" else self.payload[:100])
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    csv = write_fer_csv(tmp_path / "fer2013.csv")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(csv, "fer2013.csv")
    FakeKaggle.payload, FakeKaggle.seen = buffer.getvalue(), {}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeKaggle)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield (
        f"http://127.0.0.1:{httpd.server_address[1]}",
        hashlib.md5(csv.read_bytes(), usedforsecurity=False).hexdigest(),
    )
    httpd.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    work = tmp_path / "repo"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_download_follows_the_redirect_without_leaking_credentials(server, workdir):
    url, md5 = server
    environ = {"KAGGLE_USERNAME": "ada", "KAGGLE_KEY": "secret"}
    path = fetch.fetch(f"{url}/download", md5, environ)
    assert path == Path("data/raw/download.zip")
    assert path.read_bytes() == FakeKaggle.payload
    assert FakeKaggle.seen["/download"]["Authorization"].startswith("Basic ")
    assert "Authorization" not in FakeKaggle.seen["/storage/fer2013.zip"]
    assert [p.name for p in Path("data").iterdir()] == ["raw"]


def test_no_credentials_are_sent_when_none_are_set(server, workdir):
    url, md5 = server
    fetch.fetch(f"{url}/download", md5, {})
    assert "Authorization" not in FakeKaggle.seen["/download"]


@pytest.mark.parametrize(
    ("path", "message"),
    [("/short", "stopped after"), ("/nothing-here", "HTTP 404")],
)
def test_failed_downloads_explain_how_to_get_the_file(server, workdir, path, message):
    url, _ = server
    with pytest.raises(UserError, match=message) as error:
        fetch.fetch(f"{url}{path}", None, {})
    assert "data/external/" in str(error.value) and "FER2013_PATH" in str(error.value)
    assert not Path("data/raw").exists()


def test_offline_is_an_error_with_the_fix(workdir):
    with pytest.raises(UserError, match="may be offline") as error:
        fetch.fetch("http://127.0.0.1:9/fer2013", None, {})
    assert "FER2013_PATH" in str(error.value)


def test_plain_http_is_refused_except_to_this_machine():
    with pytest.raises(UserError, match="plain http"):
        fetch.check_url("http://example.com/fer2013.csv")
    fetch.check_url("http://localhost:8000/x")
    fetch.check_url("https://example.com/x")


def test_checksum_mismatch_fails_and_unknown_checksum_warns(tmp_path, workdir, capsys):
    csv = write_fer_csv(tmp_path / "fer2013.csv")
    with pytest.raises(UserError, match="does not match data.md5"):
        fetch.fetch(str(csv), "0" * 32, {})
    assert not Path("data/raw").exists()
    assert fetch.fetch(str(csv), None, {}).read_bytes() == csv.read_bytes()
    warning = capsys.readouterr().err
    assert f"warning: {csv}: MD5" in warning and "not a known FER2013 checksum" in warning


def test_environment_then_external_folder_then_params(tmp_path):
    external = tmp_path / "external"
    external.mkdir()
    (external / "README.md").write_text("readme")
    assert fetch.resolve_source("https://x/y", {}, external) == "https://x/y"
    (external / "fer2013.csv.gz").write_bytes(b"x")
    assert fetch.resolve_source("https://x/y", {}, external) == str(external / "fer2013.csv.gz")
    environ = {"FER2013_PATH": "/data/fer2013.csv"}
    assert fetch.resolve_source("https://x/y", environ, external) == "/data/fer2013.csv"
    (external / "second.zip").write_bytes(b"x")
    with pytest.raises(UserError, match="holds several files"):
        fetch.resolve_source("https://x/y", {}, external)
    # FER2013_PATH names a FER2013 file: an image-folder dataset does not take it.
    (external / "second.zip").unlink()
    images = fetch.resolve_source("https://x/y", environ, external, dataset="images")
    assert images == str(external / "fer2013.csv.gz")


def test_an_image_folder_is_packed_the_same_whatever_the_file_times(tmp_path, workdir):
    folder = tmp_path / "faces"
    (folder / "train").mkdir(parents=True)
    for index in range(3):
        (folder / "train" / f"{index}.png").write_bytes(b"\x89PNG" + bytes([index]))
    (folder / "notes.txt").write_text("not an image")
    first = fetch.fetch(str(folder), None, {}, dataset="images").read_bytes()
    os.utime(folder / "train" / "1.png", (0, 1_000_000_000))
    second = fetch.fetch(str(folder), None, {}, dataset="images")
    assert second.name == "images.zip" and second.read_bytes() == first
    with zipfile.ZipFile(second) as archive:
        assert archive.namelist() == ["train/0.png", "train/1.png", "train/2.png"]
    with pytest.raises(UserError, match="folder or zip of images"):
        fetch.fetch(str(tmp_path / "missing"), None, {}, dataset="images")


def test_stage_exits_2_with_a_message_and_leaves_no_output(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["source"] = str(tmp_path / "missing.csv")
    work = tmp_path / "repo"
    work.mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    environment = {k: v for k, v in os.environ.items() if k != "FER2013_PATH"}
    result = subprocess.run(
        [sys.executable, "-m", "fer_denoise.stages.fetch"],
        cwd=work,
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert result.returncode == 2
    assert "missing.csv does not exist" in result.stderr and "Traceback" not in result.stderr
    assert not (work / "data" / "raw").exists()


def test_md5_is_of_the_csv_whether_plain_gzipped_or_zipped(tmp_path):
    csv = write_fer_csv(tmp_path / "fer2013.csv")
    expected = hashlib.md5(csv.read_bytes(), usedforsecurity=False).hexdigest()
    gz = tmp_path / "fer2013.csv.gz"
    gz.write_bytes(gzip.compress(csv.read_bytes()))
    zipped = tmp_path / "download.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(csv, "fer2013.csv")
    assert {fetch.dataset_md5(p) for p in (csv, gz, zipped)} == {expected}
