"""``data push`` against a real S3 API server on 127.0.0.1 (moto in server mode).

Real files, real HTTP, s3fs as users run it: a folder pushed and read back byte for byte,
a re-run that sends nothing, a changed file sent alone, an object overwritten behind our
back detected and replaced, multipart ETags verified, and bad input refused in one line.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from scalecloud.infra.errors import ScalecloudError
from scalecloud.infra.push import push
from scalecloud.infra.storage import local_digest, parse_store_url
from test_cli_errors import assert_one_line_error

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

BUCKET = "scalecloud-test"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in [*AWS_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(AWS_ENV, AWS_ENDPOINT_URL=endpoint)  # botocore reads it, so s3fs does
    s3fs.S3FileSystem.clear_instance_cache()
    s3fs.S3FileSystem().mkdir(BUCKET)
    yield endpoint
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


@pytest.fixture
def fs(s3_endpoint):
    found = s3fs.S3FileSystem()
    found.invalidate_cache()
    return found


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "parts").mkdir(parents=True)
    (root / "points.csv").write_text("x,y\n" + "".join(f"{i},{i * i}\n" for i in range(500)))
    (root / "parts" / "a.bin").write_bytes(os.urandom(70_000))
    (root / "parts" / "b.bin").write_bytes(os.urandom(3))
    return root


def remote_bytes(fs, prefix: str) -> dict[str, bytes]:
    fs.invalidate_cache()
    return {
        p.removeprefix(f"{BUCKET}/{prefix}/"): fs.cat_file(p) for p in fs.find(f"{BUCKET}/{prefix}")
    }


def local_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_cli_pushes_a_folder_then_skips_then_sends_only_the_changed_file(
    cli, fs, folder, s3_endpoint
):
    cli.env.update(AWS_ENV, AWS_ENDPOINT_URL=s3_endpoint)
    url = f"s3://{BUCKET}/cli-run"
    first = cli("data", "push", str(folder), url, "--json", check=True).json()
    total = sum(len(b) for b in local_bytes(folder).values())
    assert first["files"] == 3 and first["bytes"] == total == first["uploaded_bytes"]
    assert sorted(first["uploaded"]) == sorted(first["verified"]) == sorted(local_bytes(folder))
    assert first["skipped"] == [] and first["unverified"] == []
    assert remote_bytes(fs, "cli-run") == local_bytes(folder)

    again = cli("data", "push", str(folder), url, "--json", check=True).json()
    assert again["uploaded"] == [] and sorted(again["skipped"]) == sorted(local_bytes(folder))
    assert again["uploaded_bytes"] == 0

    (folder / "parts" / "b.bin").write_bytes(b"new bytes, other size")
    third = cli("data", "push", str(folder), url, "--json", check=True).json()
    assert third["uploaded"] == ["parts/b.bin"] == third["replaced"] == third["verified"]
    assert remote_bytes(fs, "cli-run") == local_bytes(folder)

    shown = cli("data", "push", str(folder), url, check=True)
    assert "0 files sent" in shown.out and "3 already there of 3" in shown.out


def test_an_object_overwritten_with_other_bytes_of_the_same_size_is_sent_again(fs, folder):
    url = f"s3://{BUCKET}/corrupt"
    push(folder, url)
    fs.pipe_file(f"{BUCKET}/corrupt/points.csv", b"X" * (folder / "points.csv").stat().st_size)
    fs.invalidate_cache()
    result = push(folder, url)
    assert result.replaced == ["points.csv"] == result.uploaded == result.verified
    assert sorted(result.skipped) == ["parts/a.bin", "parts/b.bin"]
    assert remote_bytes(fs, "corrupt") == local_bytes(folder)


def test_multipart_etags_are_verified_and_recognised_with_another_part_size(fs, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 * 2**20 + 17))  # three parts of 5 MiB
    events = []
    result = push(big, f"s3://{BUCKET}/multi", part_size=5 * 2**20, on_event=events.append)
    assert result.verified == ["big.bin"]
    etag = fs.info(f"{BUCKET}/multi/big.bin")["ETag"].strip('"')
    assert etag.endswith("-3") and etag == local_digest(big, "s3", 5 * 2**20)
    assert etag != hashlib.md5(big.read_bytes()).hexdigest()
    sent = [e.data for e in events if e.kind == "bytes"]
    assert sent[0]["done"] == 0 and sent[-1]["done"] == sent[-1]["total"] == big.stat().st_size
    assert [d["done"] for d in sent] == sorted(d["done"] for d in sent)
    # s3fs's default part size (50 MiB) would send it whole; the 5 MiB ETag still matches.
    assert push(big, f"s3://{BUCKET}/multi").skipped == ["big.bin"]


def test_a_single_file_goes_under_the_prefix_by_its_name(fs, tmp_path):
    one = tmp_path / "rows.csv"
    one.write_text("a\n1\n")
    assert push(one, f"s3://{BUCKET}/single/").uploaded == ["rows.csv"]
    assert fs.cat_file(f"{BUCKET}/single/rows.csv") == b"a\n1\n"


def test_a_missing_bucket_is_one_error(s3_endpoint, folder):
    with pytest.raises(ScalecloudError, match="no-such-bucket-here"):
        push(folder, "s3://no-such-bucket-here/x")


BAD = [
    (["/definitely/not/here", f"s3://{BUCKET}/x"], "does not exist"),
    (["{folder}", "ftp://host/x"], "is not a gs:// or s3:// or abfs:// URL"),
    (["{folder}", "s3://Bad_Bucket/x"], "invalid bucket name 'Bad_Bucket'"),
    (["{folder}", "abfs://c@bad.blob.example/x"], "is not ACCOUNT.dfs.core.windows.net"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD)
def test_bad_input_is_refused_in_one_line(cli, folder, args, fragment):
    result = cli("data", "push", *[a.format(folder=folder) for a in args])
    assert result.code == 1
    assert_one_line_error(result, fragment)


def test_a_missing_extra_names_the_pip_command(cli, folder, tmp_path):
    hidden = tmp_path / "hide"
    (hidden / "s3fs").mkdir(parents=True)
    (hidden / "s3fs" / "__init__.py").write_text("raise ImportError('No module named s3fs')\n")
    cli.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hidden), cli.env.get("PYTHONPATH")]))
    result = cli("data", "push", str(folder), f"s3://{BUCKET}/x")
    assert result.code == 1
    assert_one_line_error(result, "needs s3fs", 'pip install "scalecloud[aws]"')


def test_no_credentials_is_one_line_with_the_login_command(cli, folder, tmp_path):
    cli.env = {k: v for k, v in cli.env.items() if not k.startswith("AWS_")}
    cli.env.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
                   AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_EC2_METADATA_DISABLED="true",
                   AWS_ENDPOINT_URL="http://127.0.0.1:9")  # fmt: skip
    result = cli("data", "push", str(folder), f"s3://{BUCKET}/x")
    assert_one_line_error(result, "credentials", "aws configure")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gs://my-bucket/a/b/", ("gs", "my-bucket", "a/b", "")),
        ("s3://my.bucket-1", ("s3", "my.bucket-1", "", "")),
        ("abfs://inputs@acct01.dfs.core.windows.net/exp", ("abfs", "inputs", "exp", "acct01")),
    ],
)
def test_store_urls_parse(text, expected):
    url = parse_store_url(text)
    assert (url.scheme, url.bucket, url.prefix, url.account) == expected
    assert parse_store_url(str(url)) == url


@pytest.mark.parametrize(
    "text",
    ["s3://ab", "s3://-bucket", "s3://192.168.1.1", "s3://a..b", "gs://googbucket",
     "abfs://two--dashes@acct.dfs.core.windows.net", "s3://bucket?resource_group=x",
     "gs://user@bucket/x", "bucket/x"],
)  # fmt: skip
def test_bad_store_urls_are_refused(text):
    with pytest.raises(ScalecloudError):
        parse_store_url(text)


def test_help_has_examples_and_up_documents_data(cli):
    shown = cli("data", "push", "--help", check=True).out
    assert "Example" in shown and "scalecloud data push data/ s3://" in shown
    for command in ("up", "run", "plan"):
        text = cli(command, "--help", check=True).out
        assert "--data" in text and "--data-write" in text and "resource_group" in text
