"""moto's S3 server on 127.0.0.1 for the tests: its endpoint as storage options, as the
environment variables Polars and polars-npz read, and a boto3 client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest


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
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        yield MotoS3(endpoint, client)
    finally:
        server.stop()
