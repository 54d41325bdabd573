"""What S3 and botocore errors mean to a user: unreachable endpoint, refused or missing
credentials, missing bucket, denied access. Each becomes a StoreError that says what to do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from dagster_fastdeploy.errors import StoreError

CREDENTIALS_REFUSED = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
}
CONFLICT = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
MISSING = {"NoSuchKey", "404", "NotFound"}


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def s3_errors(store_url: str, endpoint: str, action: str) -> Iterator[None]:
    """Translate botocore's exceptions raised inside the block; ClientErrors that the caller
    handles itself (missing keys, failed preconditions) must be caught inside the block."""
    from botocore import exceptions as bx
    from s3transfer.exceptions import RetriesExceededError

    where = f"{store_url} (endpoint {endpoint})"
    try:
        yield
    except (bx.NoCredentialsError, bx.PartialCredentialsError) as e:
        raise StoreError(
            f"no usable AWS credentials for {where} while {action}: {e}. Set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where an "
            "instance role is available"
        ) from e
    except (bx.ConnectionError, bx.HTTPClientError) as e:
        raise StoreError(
            f"cannot reach the S3 endpoint {endpoint} while {action}: {e}. Check "
            "--endpoint-url / AWS_ENDPOINT_URL and that the server is up"
        ) from e
    except bx.ClientError as e:
        code = error_code(e)
        message = e.response.get("Error", {}).get("Message", "") or str(e)
        bucket = store_url[len("s3://") :].split("/", 1)[0]
        if code in CREDENTIALS_REFUSED:
            raise StoreError(
                f"S3 refused the credentials ({code}: {message}) for {where} while {action}: "
                "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE"
            ) from e
        if code in {"AccessDenied", "403", "Forbidden"}:
            raise StoreError(
                f"S3 denied access to {where} while {action} ({code}): the credentials were "
                "refused or lack permission on this bucket and prefix"
            ) from e
        if code == "NoSuchBucket":
            raise StoreError(
                f"the bucket {bucket!r} does not exist at {endpoint}: create it "
                f"(aws s3 mb s3://{bucket}) or fix --store"
            ) from e
        if code == "NotImplemented":
            raise StoreError(
                f"the S3-compatible server at {endpoint} does not support what {action} needs "
                f"({message}); deployment records need conditional writes (If-Match / "
                "If-None-Match), which AWS S3, MinIO and moto support"
            ) from e
        raise StoreError(f"S3 error {code} at {where} while {action}: {message}") from e
    except bx.FlexibleChecksumError as e:
        raise StoreError(
            f"the bytes from {where} were damaged in transit while {action} ({e}); nothing was "
            "kept: try again"
        ) from e
    except (bx.BotoCoreError, RetriesExceededError) as e:
        raise StoreError(f"S3 failed at {where} while {action}: {e}") from e
