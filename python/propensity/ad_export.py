"""Write an ad-platform audience upload: SHA-256 digests of emails and phones, nothing else."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb

from propensity.export import ExportError

AD_AUDIENCES = ("best_customers_seed", "lookalike_prospects")

# Each platform's upload columns and the ad_audience_members column behind each: Google
# Customer Match takes Email and Phone (SHA-256 of the trimmed, lower-case email and of the
# phone in E.164 with its +), Meta custom audiences email and phone (the same email digest,
# the phone as calling code and number, digits only).
AD_PLATFORMS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "google": (("Email", "google_email_sha256"), ("Phone", "google_phone_sha256")),
    "meta": (("email", "meta_email_sha256"), ("phone", "meta_phone_sha256")),
}

SHA256_HEX_PATTERN = "^[0-9a-f]{64}$"


@dataclass(frozen=True)
class AdExportSummary:
    """What an ad export wrote and left out."""

    audience: str
    platform: str
    path: Path
    members: int
    with_email: int
    with_phone: int
    left_out: int

    @property
    def rows(self) -> int:
        """Rows written: members with at least one identifier."""
        return self.members - self.left_out


def check_choice(kind: str, value: str, valid: tuple[str, ...]) -> None:
    """Raise ExportError naming the valid values when value is not one of them."""
    if value not in valid:
        raise ExportError(f"unknown {kind} {value!r}; {kind}s: {', '.join(valid)}")


def export_ad_audience(warehouse: Path, audience: str, platform: str, out: Path) -> AdExportSummary:
    """Write one audience's hashed identifiers in one platform's CSV columns, by audience rank."""
    check_choice("audience", audience, AD_AUDIENCES)
    check_choice("platform", platform, tuple(AD_PLATFORMS))
    if not warehouse.exists():
        raise ExportError(f"no warehouse at {warehouse}: run `make demo` or `dbt build` first")
    (email_header, email_column), (phone_header, phone_column) = AD_PLATFORMS[platform]
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        counted = connection.execute(
            f"""
            select
                count(*),
                count({email_column}),
                count({phone_column}),
                count(*) filter (where {email_column} is null and {phone_column} is null),
                count(*) filter (
                    where not regexp_full_match(coalesce({email_column}, repeat('0', 64)), $pattern)
                    or not regexp_full_match(coalesce({phone_column}, repeat('0', 64)), $pattern)
                )
            from audiences.ad_audience_members
            where audience_name = $audience
            """,
            {"audience": audience, "pattern": SHA256_HEX_PATTERN},
        ).fetchone()
        assert counted is not None
        members, with_email, with_phone, left_out, not_digests = (int(value) for value in counted)
        if not_digests:
            # Belt and braces: the model only holds digests; never write anything else.
            raise ExportError(
                f"{not_digests} members of {audience} have an identifier that is not a "
                "SHA-256 hex digest; nothing written"
            )
        rows = connection.execute(
            f"""
            select {email_column}, {phone_column}
            from audiences.ad_audience_members
            where
                audience_name = $audience
                and ({email_column} is not null or {phone_column} is not null)
            order by audience_rank, member_type, member_id
            """,
            {"audience": audience},
        ).fetchall()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as upload:
        writer = csv.writer(upload, lineterminator="\n")
        writer.writerow([email_header, phone_header])
        writer.writerows([(email or "", phone or "") for email, phone in rows])
    return AdExportSummary(
        audience=audience,
        platform=platform,
        path=out,
        members=members,
        with_email=with_email,
        with_phone=with_phone,
        left_out=left_out,
    )


def describe_ad_export(summary: AdExportSummary) -> str:
    """One line on what an ad export wrote."""
    return (
        f"wrote {summary.rows:,} rows of {summary.audience} for {summary.platform} to "
        f"{summary.path}: {summary.members:,} members, {summary.with_email:,} with email, "
        f"{summary.with_phone:,} with phone, {summary.left_out:,} left out (neither)"
    )
