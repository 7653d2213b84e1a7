"""moto's S3 server on 127.0.0.1 for the tests: its endpoint as storage options, as the
environment variables Polars and polars-npz read, and a boto3 client."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from polars_npz._internal import clear_plan_cache


@dataclass
class MotoS3:
    endpoint: str
    client: Any

    @property
    def options(self) -> dict[str, object]:
        """storage_options for scan_npz, write_npz, ..."""
        return {
            "aws_endpoint_url": self.endpoint,
            "aws_region": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "aws_allow_http": True,
        }

    @property
    def env(self) -> dict[str, str]:
        """The same settings as environment variables (AWS_ENDPOINT_URL, ...)."""
        return {k.upper(): str(v).lower() if isinstance(v, bool) else str(v) for k, v in self.options.items()}


def environ_without_aws() -> dict[str, str]:
    """This process's environment without any AWS_* setting (a subprocess given it finds the
    store only through what a test adds)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


@contextmanager
def moto_s3(*buckets: str) -> Iterator[MotoS3]:
    """A moto S3 server on 127.0.0.1 (a free port) with `buckets` created; skips without moto."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        _reset(endpoint)
        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        yield MotoS3(endpoint, client)
    finally:
        _reset(endpoint)
        server.stop()


def _reset(endpoint: str) -> None:
    """Empty moto's store: every moto server of a process shares it, so buckets and objects a
    test module leaves would appear in the next module's listings. What this process read of
    them is forgotten too."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    clear_plan_cache()
