"""egs/voxceleb/local/download_corpus.py against a loopback HTTP server: checksum, safe extraction, re-run."""

import functools
import hashlib
import http.server
import io
import os
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from bccmt_tools.errors import BccmtError

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "egs" / "voxceleb" / "local" / "download_corpus.py"
sys.path.insert(0, str(SCRIPT.parent))
import download_corpus  # noqa: E402  (a recipe script, importable from its folder)


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def do_GET(self):
        CountingHandler.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/served on 127.0.0.1; yields (base URL, served folder, list of requested paths)."""
    served = tmp_path / "served"
    served.mkdir()
    CountingHandler.requests = []
    handler = functools.partial(CountingHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served, CountingHandler.requests
    httpd.shutdown()
    httpd.server_close()


def make_tar_gz(path, members):
    """members: name -> bytes (a file) or ("symlink", target)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_script(*args):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=60)


CORPUS = {
    "minivox/README.md": b"mini corpus\n",
    "minivox/voxceleb1/veri_test2.txt": b"1 id10270/a/00001.wav id10270/b/00001.wav\n",
    "minivox/voxceleb1/wav/id10270/a/00001.wav": b"RIFF" + bytes(100_000),
}


def test_download_checks_extracts_and_skips_on_rerun(server, tmp_path):
    url, served, requests = server
    archive = make_tar_gz(served / "minivox.tar.gz", CORPUS)
    dest = tmp_path / "cache"
    result = run_script("--url", f"{url}/minivox.tar.gz", "--sha256", sha256_of(archive).upper(), "--dest", dest,
                        "--expect", "voxceleb1")
    assert result.returncode == 0, result.stderr
    root = dest / "extracted" / "minivox"
    assert result.stdout.strip() == str(root)
    assert (root / "voxceleb1" / "wav" / "id10270" / "a" / "00001.wav").read_bytes() == CORPUS[
        "minivox/voxceleb1/wav/id10270/a/00001.wav"]
    assert "downloaded" in result.stderr and "SHA-256 verified" in result.stderr
    assert (dest / "download.done").is_file()
    assert sorted(p.name for p in dest.iterdir()) == ["download.done", "extracted"]  # archive and .part gone
    assert requests == ["/minivox.tar.gz"]

    again = run_script("--url", f"{url}/minivox.tar.gz", "--sha256", sha256_of(archive), "--dest", dest)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == str(root) and "skipped" in again.stderr
    assert requests == ["/minivox.tar.gz"]  # nothing fetched the second time


def test_checksum_mismatch_is_an_error_and_leaves_nothing(server, tmp_path):
    url, served, _ = server
    make_tar_gz(served / "minivox.tar.gz", CORPUS)
    dest = tmp_path / "cache"
    result = run_script("--url", f"{url}/minivox.tar.gz", "--sha256", "0" * 64, "--dest", dest)
    assert result.returncode == 1
    assert "SHA-256 mismatch: expected " + "0" * 64 in result.stderr and "deleted" in result.stderr
    assert result.stdout == "" and list(dest.iterdir()) == []

    result = run_script("--url", f"{url}/minivox.tar.gz", "--sha256", "abc", "--dest", dest)
    assert result.returncode == 1 and "64 hexadecimal digits" in result.stderr
    result = run_script("--url", f"{url}/absent.tar.gz", "--sha256", "0" * 64, "--dest", dest)
    assert result.returncode == 1 and "download failed" in result.stderr and "HTTP 404" in result.stderr


@pytest.mark.parametrize("members, complaint", [
    ({"minivox/ok.txt": b"x", "../evil.txt": b"owned"}, "'../evil.txt' climbs out"),
    ({"minivox/a/../../../evil.txt": b"owned"}, "climbs out"),
    ({"/tmp/evil.txt": b"owned"}, "absolute path"),
    ({"minivox/link": ("symlink", "../../evil_dir")}, "leaves the extraction folder"),
    # Each link stays inside on its own; chained they leave (caught while extracting, by our own
    # resolution of the links extracted before: no tarfile filter needed).
    ({"minivox/up": ("symlink", ".."), "minivox/up2": ("symlink", "up/.."), "minivox/up2/evil.txt": b"owned"},
     "link 'minivox/up2' -> 'up/..' leaves the extraction folder"),
])
def test_path_traversal_is_refused(server, tmp_path, members, complaint):
    url, served, _ = server
    archive = make_tar_gz(served / "bad.tar.gz", members)
    dest = tmp_path / "cache"
    result = run_script("--url", f"{url}/bad.tar.gz", "--sha256", sha256_of(archive), "--dest", dest)
    assert result.returncode == 1, result.stderr
    assert complaint in result.stderr
    assert not (tmp_path / "evil.txt").exists() and not (dest / "evil.txt").exists()
    assert not (dest / "extracted").exists() and not (dest / "download.done").exists()
    assert not [p for p in dest.iterdir() if p.name.startswith(".extracted")]  # no partial folder


def test_zip_archive_and_a_verified_archive_is_not_fetched_again(server, tmp_path):
    url, served, requests = server
    archive = served / "flat.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("voxceleb1/veri_test2.txt", "1 a/b/1.wav a/c/1.wav\n")
        zipped.writestr("musan/README", "x")
    dest = tmp_path / "cache"
    digest = sha256_of(archive)
    root = download_corpus.download_corpus(f"{url}/flat.zip", digest, dest, expect="voxceleb1", keep_archive=True)
    assert root == dest / "extracted" and (root / "musan" / "README").read_text() == "x"
    assert (dest / "flat.zip").is_file()
    (dest / "download.done").unlink()  # as if killed after the download, while extracting
    (dest / ".extracted.x1y2.partial" / "musan").mkdir(parents=True)
    assert download_corpus.download_corpus(f"{url}/flat.zip", digest, dest) == root
    assert requests == ["/flat.zip"] and not list(dest.glob(".extracted.*"))
    with pytest.raises(BccmtError, match="holds no 'voxceleb2'"):
        download_corpus.download_corpus(f"{url}/flat.zip", digest, tmp_path / "other", expect="voxceleb2")


def test_zip_member_escaping_is_refused(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("ok/../../evil.txt", "owned")
    (tmp_path / "out").mkdir()
    with pytest.raises(BccmtError, match="refusing to extract"):
        download_corpus.extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


# ---- run.sh stage 0 and `make demo` --------------------------------------------------------------

def test_recipe_stage_0_downloads_once_and_stage_1_uses_the_corpus(server, tmp_path):
    from conftest import write_wav
    from test_recipe_stages_1_4 import recipe_copy, run_recipe

    url, served, requests = server
    source = tmp_path / "source"
    for spk in ("id10001", "id10270", "id10271"):
        for n in (1, 2):
            write_wav(source / "minivox" / "voxceleb1" / "wav" / spk / "vid" / f"0000{n}.wav", [0.1] * 1600)
    (source / "minivox" / "voxceleb1" / "veri_test2.txt").write_text(
        "1 id10270/vid/00001.wav id10270/vid/00002.wav\n0 id10270/vid/00001.wav id10271/vid/00001.wav\n")
    with tarfile.open(served / "minivox.tar.gz", "w:gz") as tar:
        tar.add(source / "minivox", arcname="minivox")
    digest = sha256_of(served / "minivox.tar.gz")
    work = recipe_copy(tmp_path)
    args = ("--stage", 0, "--stop-stage", 1, "--train-set", "vox1", "--download-url", f"{url}/minivox.tar.gz",
            "--download-sha256", digest, "--download-dir", tmp_path / "cache")

    result = run_recipe(work, *args)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    root = tmp_path / "cache" / "extracted" / "minivox"
    assert f"stage 0: data root {root}" in result.stdout
    assert str(root / "voxceleb1" / "wav" / "id10270") in (work / "data" / "voxceleb1_test" / "wav.scp").read_text()
    assert (work / "data" / "trials" / "vox1_O").read_text().count("target") == 2

    again = run_recipe(work, *args)
    assert again.returncode == 0 and "already downloaded and extracted" in again.stderr, again.stderr[-2000:]
    assert requests == ["/minivox.tar.gz"]

    for bad_args, message in (
            (("--stage", 0, "--download-url", f"{url}/minivox.tar.gz"), "--download-url needs --download-sha256"),
            (("--stage", 0, "--download-url", "u", "--download-sha256", digest, "--data-root", root),
             "give --data-root or --download-url, not both"),
            (("--stage", 0, "--stop-stage", 1, "--download-url", f"{url}/minivox.tar.gz",
              "--download-sha256", "1" * 64, "--download-dir", tmp_path / "cache2"), "SHA-256 mismatch")):
        result = run_recipe(work, *bad_args)
        assert result.returncode == 1 and message in result.stderr, (bad_args, result.stderr[-2000:])
    skipped = run_recipe(work, "--stage", 0, "--stop-stage", 0)
    assert skipped.returncode == 0 and "stage 0: no --download-url given; skipped" in skipped.stdout


def run_make_demo(tmp_path, *variables):
    """`make demo` with a stand-in run.sh that prints its arguments (the venv stamp is taken as made)."""
    fake = tmp_path / "fake_recipe"
    fake.mkdir(exist_ok=True)
    (fake / "run.sh").write_text('#!/bin/sh\nfor arg in "$@"; do echo "arg: $arg"; done\n')
    (fake / "run.sh").chmod(0o755)
    env = {key: value for key, value in os.environ.items() if not key.startswith("BCCMT_")}
    return subprocess.run(["make", "--no-print-directory", "-o", ".venv/.bccmt-installed", "demo",
                           f"DEMO_DIR={fake}", *variables], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)


def test_make_demo_runs_tinyvox_when_nothing_is_set(tmp_path):
    result = run_make_demo(tmp_path)
    assert result.returncode == 0, result.stderr
    args = [line[5:] for line in result.stdout.splitlines() if line.startswith("arg: ")]
    assert args == ["--data-root", str(REPO / "egs" / "voxceleb" / "tinyvox"), "--stage", "1",
                    "--preset", "tinyvox", "--stop-stage", "12"]
    assert "make demo: done (preset tinyvox). Results:" in result.stdout


def test_make_demo_without_a_corpus_says_what_to_set_and_downloads_with_url(tmp_path):
    result = run_make_demo(tmp_path, f"TINYVOX={tmp_path}/no_tinyvox")  # a checkout without tinyvox
    assert result.returncode != 0
    assert "no_tinyvox (the tiny corpus of the repository) is missing" in result.stderr
    assert "BCCMT_DATA=path/to/minivox" in result.stderr
    assert "BCCMT_DATA_URL=" in result.stderr and "BCCMT_DATA_SHA256=" in result.stderr
    assert "arg:" not in result.stdout

    result = run_make_demo(tmp_path, "BCCMT_DATA_URL=http://127.0.0.1:9/minivox.tar.gz",
                           "BCCMT_DATA_SHA256=" + "ab" * 32, f"BCCMT_CACHE={tmp_path}/cache")
    assert result.returncode == 0, result.stderr
    args = [line[5:] for line in result.stdout.splitlines() if line.startswith("arg: ")]
    assert args == ["--stage", "0", "--download-url", "http://127.0.0.1:9/minivox.tar.gz",
                    "--download-sha256", "ab" * 32, "--download-dir", f"{tmp_path}/cache/minivox",
                    "--preset", "mini", "--stop-stage", "12"]

    result = run_make_demo(tmp_path, f"BCCMT_DATA={tmp_path}", "BCCMT_DATA_URL=http://x/y.zip")
    args = [line[5:] for line in result.stdout.splitlines() if line.startswith("arg: ")]
    assert result.returncode == 0 and args[:3] == ["--data-root", str(tmp_path), "--stage"]  # BCCMT_DATA first


class TrickleHandler(http.server.BaseHTTPRequestHandler):
    """Sends a large Content-Length, then a byte every 0.05 s: never silent long enough for a timeout."""

    def do_GET(self):
        import time

        self.send_response(200)
        self.send_header("Content-Length", str(10 ** 6))
        self.end_headers()
        try:
            for _ in range(400):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def test_a_trickling_server_is_given_up_with_one_line(tmp_path, monkeypatch):
    """Issue 23: a byte every 20 s stalled stage 0 forever with no progress line."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TrickleHandler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setattr(download_corpus, "STALL_SECONDS", 1.0)
    monkeypatch.setattr(download_corpus, "STALL_BYTES", 1000)
    target = tmp_path / "corpus.tar.gz"
    try:
        with pytest.raises(BccmtError, match="the download stalled: \\d+ bytes in the last 1 s"):
            download_corpus.download(f"http://127.0.0.1:{httpd.server_address[1]}/x.tar.gz", target, "0" * 64,
                                     timeout=5.0)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert list(tmp_path.iterdir()) == []  # no .part left
