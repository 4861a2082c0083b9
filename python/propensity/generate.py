"""Deterministic synthetic demo data for propensity: a SaaS + shop business with planted mess.

The generator simulates customers month by month (in UTC) from hidden per-customer traits and
writes one directory of parquet parts per source table, plus a truth file with the true up-sell
probability of every eligible customer at every monthly snapshot, one with the true
probability of every open lead converting within 30 days and one with the true outcome
probabilities, with and without contact, of every exposure of three past campaigns.

Notes for readers of the output:

* Timestamps are VARCHAR in the customer's home UTC offset, always 25 characters:
  ``YYYY-MM-DD HH:MM:SS+HH:MM`` or ``YYYY-MM-DDTHH:MM:SS+HH:MM`` (separator random per row,
  whole seconds, never ``Z``). ``::TIMESTAMPTZ`` in DuckDB gives the right instant.
* Every instant is < end_date and >= the window start, except the initial base's
  ``customers.signed_up_at``, ``subscriptions.started_at`` and sign-up ``consents.recorded_at``.
* ``customer_id`` is 1..customers. Other ids are ``chunk * ID_STRIDE + 1, 2, ...`` (unique,
  not contiguous across chunks). One subscription per subscribing customer.
* Plan at snapshot s = initial_plan, then the last ``plan_changes.to_plan`` with changed_at < s
  (ignoring from_plan = to_plan rows). An upgrade drawn at s happens in
  [s, min(s + 30 days, next month start)), so it never crosses the next snapshot.
* Truth labels are defined from the written plan_changes: an upgrade in [s, s + 30 days).
* Leads (prospects, 1.5 per customer, ids ``chunk * ID_STRIDE + 1, 2, ...``) come from their
  own random stream, so adding them changed no other table. A lead is open at snapshot s when
  created < s and not converted before s; a conversion drawn at s happens in
  [s, min(s + 30 days, next month start)) and ends the lead's activity. The acquisition truth
  (``acquisition_truth.parquet``) labels a conversion in [s, s + 30 days) from the written
  ``leads.converted_at`` (a planted converted_at before created_at is an open lead there).
* Campaign history (``campaign_exposures``, ``HISTORICAL_CAMPAIGNS``): the snapshot 9 months
  before the end, ``upsell_upgrade_pilot`` assigns a random 60% of the up-sell eligible, half
  to treatment; 7 months before, ``retention_save_test`` the active subscribers above the
  median true cancellation hazard, half to treatment; 5 months before,
  ``upsell_upgrade_rollout`` a random 50% of the eligible, 80% to treatment. Assignment, each
  customer's hidden uplift type (persuadable, sure_thing, lost_cause, sleeping_dog) and its
  effect come from their own random stream (SeedSequence(seed, spawn_key=(3, chunk))). In a
  campaign month a treated customer's up-sell probability (or cancellation hazard) gets the
  effect before the month's usual draw, so only treated customers' outcomes change that month.
  Changed outcomes change what is simulated after it (a plan, a subscription), so the random
  details of later rows, and of the tables written after the month loop, differ from a run
  with ``campaign_history=False``, which writes exactly what the generator wrote before.
* A treatment row is sent (``sent_at``) only to customers whose email consent holds at the
  assignment; the others keep a null ``sent_at`` and no effect (read-outs are intention to
  treat). ``uplift_truth.parquet`` holds, per real exposure, ``p_control`` and
  ``p_treatment``: the true probability of the read-out outcome in [snapshot, snapshot + 30
  days) without and with the campaign (equal for a customer the email could not reach).
  Upgrade: the month's up-sell probability; churn: the cancellation hazard times the chance
  of not upgrading that month and of the cancellation instant falling inside 30 days. In a
  month shorter than 30 days (February) the window also catches the next month's first days,
  untouched by the campaign: the same small addition for both groups. ``upsell_truth``'s
  probability is the one used, the treated customers' adjusted one.
* Planted exposure mess: exact copies of rows (same key) and rows of unknown customers, some
  of them a control row with a sent_at, a send before the assignment or an unknown group.
* ``generate`` deletes stale ``part-*.parquet`` files in the table directories it writes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# --------------------------------------------------------------------------------------------
# Layout, ids and time
# --------------------------------------------------------------------------------------------
CHUNK_CUSTOMERS = 100_000  # customers simulated and written per part file
ID_STRIDE = 1_000_000_000  # ids of chunk c (except customer_id) are c * ID_STRIDE + 1, + 2, ...
DAY = 86_400  # seconds
UPSELL_WINDOW_SECONDS = 30 * DAY  # label window [s, s + 30 days)
ACQUISITION_WINDOW_SECONDS = 30 * DAY  # a lead's conversion window [s, s + 30 days)
INITIAL_BASE_SHARE = 0.55  # customers signed up before the window start
INITIAL_BASE_MAX_AGE_DAYS = 4 * 365  # how far before the window the initial base signed up
TIMESTAMP_T_SEPARATOR_SHARE = 0.5  # rows written with 'T' instead of ' ' between date and time
_INF = np.iinfo(np.int64).max  # "never" for event times

# --------------------------------------------------------------------------------------------
# Planted mess (rates are per row of the table named, unless said otherwise)
# --------------------------------------------------------------------------------------------
DUPLICATE_CUSTOMER_RATE = 0.015  # extra customers row, same id, older updated_at, email/country
MESSY_EMAIL_RATE = 0.20  # email in mixed case and/or with leading/trailing spaces
NULL_EMAIL_RATE = 0.005  # customers.email is null
TEST_ACCOUNT_RATE = 0.003  # email ends '@test.invalid', first_name 'Test' (not real customers)
NULL_CUSTOMER_ID_RATE = 0.0005  # extra customers rows with a null customer_id
NULL_ATTRIBUTE_RATE = 0.02  # customers.phone and customers.region null (each)
ORPHAN_ORDER_RATE = 0.003  # extra orders whose customer_id is above every real id
NULL_CUSTOMER_ORDER_RATE = 0.001  # extra orders with a null customer_id
REFUND_RATE = 0.03  # orders.order_status = 'refunded' (higher for high-friction customers)
CANCELLED_ORDER_RATE = 0.01  # orders.order_status = 'cancelled'
RETURN_LINE_RATE = 0.02  # extra order line with negative quantity (a valid return)
IMPOSSIBLE_LINE_RATE = 0.001  # order line with quantity = 0 or unit_price < 0
ORPHAN_LINE_RATE = 0.001  # extra order line whose order_id matches no order
NEGATIVE_DURATION_RATE = 0.001  # sessions.duration_seconds < 0
RESOLVED_BEFORE_OPENED_RATE = 0.002  # support_tickets.resolved_at < opened_at
NOOP_PLAN_CHANGE_RATE = 0.001  # extra plan_changes row with from_plan = to_plan
ORPHAN_CHILD_RATE = 0.001  # extra sessions / email_events rows for customers that don't exist
CONTRACT_EXCEPTION_RATE = 0.005  # customers with a contract exception
EMAIL_OPT_IN_AT_SIGNUP = 0.92  # customers opting in to email when signing up
EMAIL_LATER_OPT_OUT_RATE = 0.07  # of opted-in customers, opt out later (~6.4% of all)
EMAIL_OPT_BACK_IN_SHARE = 0.25  # of those, opt back in later
SMS_OPT_IN_AT_SIGNUP = 0.30

# --------------------------------------------------------------------------------------------
# Behaviour
# --------------------------------------------------------------------------------------------
SESSIONS_PER_MONTH = 1.7  # base rate (subscribed, average traits)
EMAIL_SENDS_PER_MONTH = 2.0  # to customers opted in to email
ORDERS_PER_MONTH = 0.22
TICKETS_PER_MONTH = 0.05
UPSELL_OFFER_RATE = 0.05  # of eligible customers, per month
CROSS_SELL_OFFER_RATE = 0.03  # of existing customers, per month
WIN_BACK_OFFER_RATE = 0.08  # of churned customers, per month
RETENTION_OFFER_RATE = 0.04  # of subscribed high-friction customers, per month
DOUBLE_UPGRADE_SHARE = 0.08  # basic customers who upgrade straight to pro
INTENT_PERSISTENCE = 0.7  # AR(1) coefficient of the hidden monthly purchase intent

# True up-sell logit at snapshot s (features are what happened in [s - 30 days, s)).
UPSELL_INTERCEPT = -4.0
UPSELL_COEFFICIENTS: dict[str, float] = {
    "log1p_sessions_30d": 0.45,
    "log1p_product_clicks_30d": 0.55,
    "email_clicks_30d_capped3": 0.35,
    "log1p_orders_30d": 0.30,
    "order_value_trend": 0.60,  # log((value last 3 months + 50) / (value 3 months before + 50))
    "tickets_30d_capped3": -0.30,
    "escalations_30d_capped2": -0.60,
    "is_plus": -0.35,
    "log1p_tenure_months": -0.20,
    "upsell_offer_30d": 0.70,
    "hidden_need_growth": 0.45,
    "hidden_budget": 0.30,
    "hidden_price_sensitivity": -0.30,
    "hidden_intent": 0.35,
}

# --------------------------------------------------------------------------------------------
# Prospects (leads and their activities). They come from their own random stream per chunk
# (SeedSequence(seed, spawn_key=(2, chunk))), so every other table and the up-sell truth are
# the same with or without them.
# --------------------------------------------------------------------------------------------
LEADS_PER_CUSTOMER = 1.5  # leads simulated per customer of the chunk
LEAD_BACKLOG_SHARE = 0.2  # leads created before the window start, still open at its start
LEAD_BACKLOG_MAX_AGE_DAYS = 365
LEAD_MARKETING_CONSENT_RATE = 0.75  # leads that may receive marketing email
LEAD_BUSINESS_EMAIL_INTERCEPT = 0.2  # P(company domain) = sigmoid(this + 0.9 x hidden fit)
LEAD_INTENT_PERSISTENCE = 0.6  # AR(1) coefficient of the hidden monthly buying intent
LEAD_ACTIVITY_AGE_DECAY = 0.04  # activity falls by exp(-this x months since the lead arrived)
# planted mess
DUPLICATE_LEAD_RATE = 0.02  # extra leads row, same id, older updated_at, other values
NULL_LEAD_ID_RATE = 0.001  # extra leads rows with a null lead_id
INVALID_LEAD_EMAIL_RATE = 0.005  # emails without '@', with two, without a domain dot, ...
MESSY_LEAD_PHONE_RATE = 0.25  # phones with dashes, parentheses or extra spaces
NULL_LEAD_PHONE_RATE = 0.05
NULL_COMPANY_SIZE_RATE = 0.10
NULL_INDUSTRY_RATE = 0.12
NULL_JOB_ROLE_RATE = 0.15
CONVERTED_BEFORE_CREATED_RATE = 0.002  # converted_at earlier than created_at (open leads)
ORPHAN_LEAD_ACTIVITY_RATE = 0.002  # lead_activities rows for leads that do not exist
NULL_LEAD_ACTIVITY_LEAD_RATE = 0.001  # lead_activities rows with a null lead_id


# --------------------------------------------------------------------------------------------
# Campaign history: past campaigns with random control groups and a planted uplift. Who is
# assigned, each customer's uplift type and the effects come from their own random stream per
# chunk (SeedSequence(seed, spawn_key=(3, chunk))); the main stream's draws up to the first
# campaign month are the same as without history (generate(..., campaign_history=False)).
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoricalCampaign:
    """A past campaign of the demo history (a row of seeds/campaigns.csv with is_active false)."""

    campaign_id: str
    months_before_end: int  # its snapshot: this many month starts before end_date
    outcome: str  # "upgrade" (population: up-sell eligible) or "churn" (riskier active half)
    population_share: float  # share of the population assigned to either group
    treatment_share: float  # share of the assigned put in the treatment group
    channel: str = "email"


HISTORICAL_CAMPAIGNS: tuple[HistoricalCampaign, ...] = (
    HistoricalCampaign("upsell_upgrade_pilot", 9, "upgrade", 0.6, 0.5),
    HistoricalCampaign("retention_save_test", 7, "churn", 1.0, 0.5),
    HistoricalCampaign("upsell_upgrade_rollout", 5, "upgrade", 0.5, 0.8),
)
UPLIFT_TYPES = ("persuadable", "sure_thing", "lost_cause", "sleeping_dog")
# Uplift types come from hidden traits (plus noise) that observable behaviour reflects:
# sleeping dogs are high-friction customers (support tickets and escalations) whom a contact
# annoys; sure things are growing, engaged ones (the up-sell drivers); of the rest,
# persuadables are engaged and price-sensitive (sessions, email clicks, discounts: they answer
# an offer) and lost causes the others. Each score is a standard normal; a type takes the
# customers above its threshold among those left (about 13/17/29/41% of the up-sell
# campaigns' audiences are sleeping dogs, sure things, persuadables and lost causes).
SLEEPING_DOG_THRESHOLD = 1.04  # top ~15% by friction
SURE_THING_THRESHOLD = 0.7  # top ~24% by (need growth, engagement), of the rest
PERSUADABLE_THRESHOLD = 0.1  # top ~46% by (engagement, price sensitivity), of the rest
PERSUADABLE_UPGRADE_EFFECT = (0.06, 0.12)  # + this many points of upgrade probability
SLEEPING_DOG_UPGRADE_FACTOR = 0.4  # contact multiplies their upgrade probability by this
PERSUADABLE_CANCEL_FACTOR = 0.1  # contact multiplies their cancellation hazard by this
SLEEPING_DOG_CANCEL_EFFECT = 0.004  # + this many points of cancellation hazard
READOUT_WINDOW_SECONDS = 30 * DAY  # every historical campaign is read out over 30 days
ASSIGNMENT_DELAY_SECONDS = 2 * 3600  # the audience is fixed in the first hours of the snapshot
SEND_DELAY_SECONDS = (600, 8 * 3600)  # the email goes out this long after the assignment
DUPLICATE_EXPOSURE_RATE = 0.002  # planted: exact copies of exposure rows (same key)
BAD_EXPOSURE_RATE = 0.001  # planted, each: rows for unknown customers (valid, control with a
# sent_at, sent before assigned, unknown group)

LEAD_SOURCES = ("organic", "paid_search", "webinar", "referral", "partner", "social")
LEAD_SOURCE_WEIGHTS = (0.30, 0.22, 0.12, 0.10, 0.08, 0.18)
COMPANY_SIZES = ("1-10", "11-50", "51-200", "201-1000", "1000+")
INDUSTRIES = ("software", "retail", "finance", "healthcare", "manufacturing", "education", "media")
INDUSTRY_WEIGHTS = (0.25, 0.15, 0.14, 0.12, 0.14, 0.10, 0.10)
JOB_ROLES = ("founder", "executive", "manager", "analyst", "engineer", "marketing", "student")
JOB_ROLE_WEIGHTS = (0.08, 0.10, 0.25, 0.17, 0.17, 0.15, 0.08)
LEAD_ACTIVITY_TYPES = (
    "web_visit", "pricing_page_view", "content_download", "webinar_attended", "email_click",
    "demo_request",
)  # fmt: skip
# per type: monthly rate of an average open lead, and loadings on hidden interest, intent, fit
LEAD_ACTIVITY_RATES = (1.0, 0.18, 0.15, 0.06, 0.35, 0.025)
LEAD_ACTIVITY_LOADINGS = (
    (0.5, 0.3, 0.0), (0.3, 0.6, 0.2), (0.5, 0.2, 0.0), (0.4, 0.2, 0.1), (0.4, 0.3, 0.0),
    (0.2, 0.8, 0.3),
)  # fmt: skip

# True acquisition logit at snapshot s: a lead open at s converts in [s, s + 30 days) with
# probability sigmoid(logit). Activity features count what happened in [s - 30 days, s).
ACQUISITION_INTERCEPT = -3.7
ACQUISITION_COEFFICIENTS: dict[str, float] = {
    "log1p_web_visits_30d": 0.35,
    "log1p_pricing_page_views_30d": 0.70,
    "log1p_content_downloads_30d": 0.25,
    "webinars_attended_30d_capped2": 0.35,
    "log1p_email_clicks_30d": 0.30,
    "demo_request_30d": 1.30,
    "log1p_age_months": -0.45,
    "has_business_email": 0.55,
    "has_marketing_consent": 0.15,
    "hidden_fit": 0.45,
    "hidden_interest": 0.35,
    "hidden_intent": 0.40,
}
LEAD_SOURCE_EFFECTS = (0.0, -0.1, 0.3, 0.6, 0.45, -0.35)
# The true size, role and industry drive the logit even where the written value is missing.
COMPANY_SIZE_EFFECTS = (-0.35, 0.0, 0.25, 0.3, 0.1)
JOB_ROLE_EFFECTS = (0.25, 0.3, 0.15, 0.0, -0.05, 0.05, -0.9)
INDUSTRY_EFFECTS = (0.2, -0.05, 0.1, 0.0, -0.05, -0.2, 0.0)
COMPANY_NAMES = (
    "acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne", "wonka",
    "tyrell", "cyberdyne", "soylent", "nakatomi", "oceanic", "piedpiper", "dunder", "monarch",
    "northwind", "contoso", "fabrikam",
)  # fmt: skip
COMPANY_SUFFIXES = ("", "labs", "group", "systems", "works")
COMPANY_TLDS = ("com", "io", "de", "co.uk", "net")

PLANS = ("basic", "plus", "pro")
REGIONS = ("north_america", "europe", "apac", "latam")
ACQUISITION_CHANNELS = ("organic", "paid_search", "referral", "partner", "social")
ACQUISITION_WEIGHTS = (0.35, 0.25, 0.15, 0.10, 0.15)
ORDER_STATUSES = ("completed", "refunded", "cancelled")
SALES_CHANNELS = ("web", "app", "sales_rep")
DEVICES = ("web", "app")
EMAIL_EVENT_TYPES = ("send", "open", "click")
PRIORITIES = ("low", "normal", "high", "urgent")
TOPICS = ("billing", "bug", "how_to", "performance", "account", "integration", "hardware")
TOPIC_WEIGHTS = (0.2, 0.2, 0.25, 0.1, 0.1, 0.1, 0.05)
OFFER_TYPES = ("upsell", "cross_sell", "win_back", "retention")
OFFER_CHANNELS = ("email", "in_app", "sales_rep")
OFFER_RESPONSES = ("accepted", "declined")
CONSENT_CHANNELS = ("email", "sms", "all")
CONSENT_STATUSES = ("opted_in", "opted_out")
EXCEPTION_REASONS = ("enterprise_contract", "legal_hold", "key_account_freeze")
EXCEPTION_WEIGHTS = (0.5, 0.2, 0.3)
CAMPAIGN_KINDS = ("NL", "PROMO-A", "PROMO-B", "UPG", "EDU")
CAMPAIGN_WEIGHTS = (0.35, 0.2, 0.15, 0.15, 0.15)

# (country_code, region, utc offset minutes, calling code, weight); US/CA have two home offsets.
COUNTRY_OPTIONS: tuple[tuple[str, str, int, str, float], ...] = (
    ("US", "north_america", -300, "+1", 0.18),
    ("US", "north_america", -480, "+1", 0.12),
    ("CA", "north_america", -300, "+1", 0.03),
    ("CA", "north_america", -480, "+1", 0.02),
    ("GB", "europe", 0, "+44", 0.10),
    ("IE", "europe", 0, "+353", 0.02),
    ("DE", "europe", 60, "+49", 0.08),
    ("FR", "europe", 60, "+33", 0.06),
    ("NL", "europe", 60, "+31", 0.04),
    ("ES", "europe", 60, "+34", 0.03),
    ("FI", "europe", 120, "+358", 0.02),
    ("GR", "europe", 120, "+30", 0.02),
    ("IN", "apac", 330, "+91", 0.06),
    ("JP", "apac", 540, "+81", 0.05),
    ("SG", "apac", 480, "+65", 0.02),
    ("AU", "apac", 600, "+61", 0.04),
    ("BR", "latam", -180, "+55", 0.05),
    ("MX", "latam", -360, "+52", 0.03),
    ("AR", "latam", -180, "+54", 0.015),
    ("CO", "latam", -300, "+57", 0.015),
)
FIRST_NAMES = (
    "Anna", "Ben", "Carla", "David", "Elena", "Felix", "Grace", "Hugo", "Ines", "Jonas",
    "Kira", "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara",
    "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Aiko", "Bruno", "Chloe", "Diego",
    "Emma", "Farah", "Gustav", "Hana", "Ivan", "Julia", "Kenji", "Lucia", "Marco", "Nina",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Muller", "Garcia", "Rossi", "Tanaka", "Kumar", "Silva", "Dubois", "Novak",
    "Jensen", "Kowalski", "Nguyen", "Okafor", "Larsen", "Moreau", "Schmidt", "Fischer",
    "Lopez", "Sato", "Patel", "Costa", "Bernard", "Horvat", "Nielsen", "Virtanen", "Murphy",
    "Walsh", "Brown", "Wilson", "Taylor", "Martin", "Lee", "Chen", "Wang", "Singh", "Ali",
    "Santos", "Pereira", "Ivanova", "Berg",
)  # fmt: skip
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com", "gmx.de")
CATEGORIES = ("analytics", "storage", "security", "integrations", "training", "support", "hardware")
CATEGORY_POPULARITY = (0.20, 0.18, 0.15, 0.17, 0.10, 0.12, 0.08)
CATEGORY_BASE_PRICE = (49.0, 19.0, 39.0, 29.0, 199.0, 99.0, 299.0)
PRODUCT_NOUNS = (
    ("Insight Dashboards", "Cohort Explorer", "Forecast Studio"),
    ("Cloud Vault", "Archive Tier", "Backup Plus"),
    ("SSO Connector", "Audit Log", "Threat Shield"),
    ("CRM Sync", "Webhook Hub", "Data Pipeline"),
    ("Onboarding Workshop", "Admin Certification", "Analyst Bootcamp"),
    ("Priority Support", "Success Manager", "Health Check"),
    ("Edge Gateway", "Sensor Kit", "Kiosk Terminal"),
)
PRICE_TIERS = ("entry", "standard", "premium")
PRICE_TIER_LABELS = ("Lite", "Standard", "Enterprise")
PRICE_TIER_MULTIPLIER = (0.5, 1.0, 2.5)

# --------------------------------------------------------------------------------------------
# Schemas (the dbt project reads exactly these columns and types)
# --------------------------------------------------------------------------------------------
_I64, _I32, _F64, _STR = pa.int64(), pa.int32(), pa.float64(), pa.string()
SCHEMAS: dict[str, pa.Schema] = {
    "customers": pa.schema(
        [("customer_id", _I64), ("email", _STR), ("first_name", _STR), ("last_name", _STR),
         ("phone", _STR), ("country_code", _STR), ("region", _STR),
         ("acquisition_channel", _STR), ("signed_up_at", _STR), ("updated_at", _STR)]
    ),
    "products": pa.schema(
        [("product_id", _I64), ("product_name", _STR), ("category", _STR),
         ("price_tier", _STR), ("list_price", _F64)]
    ),
    "subscriptions": pa.schema(
        [("subscription_id", _I64), ("customer_id", _I64), ("initial_plan", _STR),
         ("started_at", _STR), ("cancelled_at", _STR)]
    ),
    "plan_changes": pa.schema(
        [("plan_change_id", _I64), ("subscription_id", _I64), ("changed_at", _STR),
         ("from_plan", _STR), ("to_plan", _STR)]
    ),
    "orders": pa.schema(
        [("order_id", _I64), ("customer_id", _I64), ("ordered_at", _STR),
         ("order_status", _STR), ("sales_channel", _STR)]
    ),
    "order_lines": pa.schema(
        [("order_line_id", _I64), ("order_id", _I64), ("product_id", _I64), ("quantity", _I32),
         ("unit_price", _F64), ("discount_amount", _F64)]
    ),
    "sessions": pa.schema(
        [("session_id", _I64), ("customer_id", _I64), ("started_at", _STR), ("device", _STR),
         ("page_views", _I32), ("product_clicks", _I32), ("duration_seconds", _I32)]
    ),
    "email_events": pa.schema(
        [("email_event_id", _I64), ("customer_id", _I64), ("email_campaign_code", _STR),
         ("event_type", _STR), ("occurred_at", _STR)]
    ),
    "support_tickets": pa.schema(
        [("ticket_id", _I64), ("customer_id", _I64), ("opened_at", _STR),
         ("escalated_at", _STR), ("resolved_at", _STR), ("priority", _STR), ("topic", _STR)]
    ),
    "offers": pa.schema(
        [("offer_id", _I64), ("customer_id", _I64), ("offer_type", _STR), ("channel", _STR),
         ("shown_at", _STR), ("responded_at", _STR), ("response", _STR)]
    ),
    "consents": pa.schema(
        [("consent_event_id", _I64), ("customer_id", _I64), ("channel", _STR),
         ("consent_status", _STR), ("recorded_at", _STR)]
    ),
    "contract_exceptions": pa.schema(
        [("exception_id", _I64), ("customer_id", _I64), ("exception_reason", _STR),
         ("starts_at", _STR), ("ends_at", _STR)]
    ),
    "leads": pa.schema(
        [("lead_id", _I64), ("email", _STR), ("phone", _STR), ("first_name", _STR),
         ("last_name", _STR), ("country_code", _STR), ("region", _STR), ("lead_source", _STR),
         ("company_size", _STR), ("industry", _STR), ("job_role", _STR),
         ("has_marketing_consent", pa.bool_()), ("created_at", _STR), ("converted_at", _STR),
         ("updated_at", _STR)]
    ),
    "lead_activities": pa.schema(
        [("lead_activity_id", _I64), ("lead_id", _I64), ("activity_at", _STR),
         ("activity_type", _STR)]
    ),
    "campaign_exposures": pa.schema(
        [("campaign_exposure_id", _I64), ("campaign_id", _STR), ("customer_id", _I64),
         ("experiment_group", _STR), ("assigned_at", _STR), ("sent_at", _STR),
         ("channel", _STR)]
    ),
}  # fmt: skip
TABLES: tuple[str, ...] = tuple(SCHEMAS)
TRUTH_SCHEMA = pa.schema(
    [
        ("customer_id", _I64),
        ("snapshot_date", pa.date32()),
        ("is_eligible", pa.bool_()),
        ("true_upsell_probability", _F64),
        ("has_upgraded_in_window", pa.bool_()),
    ]
)
TRUTH_FILE = "upsell_truth.parquet"
ACQUISITION_TRUTH_SCHEMA = pa.schema(
    [
        ("lead_id", _I64),
        ("snapshot_date", pa.date32()),
        ("is_eligible", pa.bool_()),
        ("true_acquisition_probability", _F64),
        ("has_converted_in_window", pa.bool_()),
    ]
)
ACQUISITION_TRUTH_FILE = "acquisition_truth.parquet"
UPLIFT_TRUTH_SCHEMA = pa.schema(
    [
        ("campaign_id", _STR),
        ("customer_id", _I64),
        ("experiment_group", _STR),
        ("p_control", _F64),
        ("p_treatment", _F64),
        ("true_uplift", _F64),
        ("uplift_type", _STR),
    ]
)
UPLIFT_TRUTH_FILE = "uplift_truth.parquet"
PARQUET_COMPRESSION = "zstd"


@dataclass(frozen=True)
class GenerationSummary:
    """What `generate` wrote: row counts per table, paths, the realised up-sell rate and the
    leads' realised monthly conversion rate."""

    out_dir: Path
    truth_path: Path
    table_dirs: dict[str, Path]
    row_counts: dict[str, int]
    customers: int
    seed: int
    start_date: date
    end_date: date
    truth_rows: int
    eligible_customer_snapshots: int  # eligible truth rows with a known outcome
    observed_upsell_rate: float  # share of those that upgraded within 30 days
    mean_true_upsell_probability: float  # mean truth probability over the same rows
    acquisition_truth_path: Path
    leads: int  # distinct leads simulated (rows of the leads table hold mess on top)
    converted_leads: int  # leads that became customers inside the window
    eligible_lead_snapshots: int  # open leads at a snapshot, with a known outcome
    observed_conversion_rate: float  # share of those that converted within 30 days
    mean_true_acquisition_probability: float  # mean truth probability over the same rows
    uplift_truth_path: Path
    exposures: dict[tuple[str, str], int]  # real exposures per (campaign_id, experiment_group)


@dataclass(frozen=True)
class _Timeline:
    start: int  # epoch seconds (UTC) of the window start
    end: int  # epoch seconds (UTC) of end_date; nothing is written at or after it
    snaps: np.ndarray  # epoch seconds of month starts start .. end inclusive (months + 1)
    snapshot_days: np.ndarray  # the same as days since epoch (int32, for DATE columns)


@dataclass(frozen=True)
class _ChunkTask:
    seed: int
    chunk_index: int
    first_customer_id: int
    n: int
    total_customers: int
    timeline: _Timeline
    out_dir: Path
    list_price: np.ndarray
    campaign_history: bool = True


@dataclass
class _ChunkResult:
    row_counts: dict[str, int]
    truth: pa.Table
    eligible_known: int
    upgraded_known: int
    probability_sum: float
    leads: _LeadResult
    uplift_truth: pa.Table


@dataclass
class _LeadResult:
    row_counts: dict[str, int]
    truth: pa.Table
    leads: int
    converted: int
    eligible_known: int
    converted_known: int
    probability_sum: float


@dataclass
class _Cols:
    """Column arrays appended month by month, concatenated at the end."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **cols: np.ndarray) -> None:
        for name, arr in cols.items():
            self.parts.setdefault(name, []).append(arr)

    def get(self, name: str, dtype: type | np.dtype = np.int64) -> np.ndarray:
        arrs = self.parts.get(name, [])
        return np.concatenate(arrs) if arrs else np.empty(0, dtype=dtype)


# --------------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def _civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proleptic Gregorian (year, month, day) from days since 1970-01-01 (H. Hinnant)."""
    z = days.astype(np.int64) + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def _put_digits(buf: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    """Write zero-padded decimal digits of non-negative `values` into buf[:, col:col+width]."""
    v = values
    for k in range(width - 1, -1, -1):
        buf[:, col + k] = 48 + v % 10
        v = v // 10


def format_timestamps(
    epoch_seconds: np.ndarray,
    offset_minutes: np.ndarray,
    t_separator: np.ndarray,
    valid: np.ndarray | None = None,
) -> pa.Array:
    """Format UTC epoch seconds as 25-char ISO-8601 strings in the given UTC offsets."""
    n = int(epoch_seconds.shape[0])
    ts = epoch_seconds if valid is None else np.where(valid, epoch_seconds, 0)
    off = offset_minutes.astype(np.int64)
    local = ts.astype(np.int64) + off * 60
    days = local // DAY
    sod = local - days * DAY
    year, month, day = _civil_from_days(days)
    buf = np.empty((n, 25), dtype=np.uint8)
    _put_digits(buf, 0, year, 4)
    buf[:, 4] = 45  # '-'
    _put_digits(buf, 5, month, 2)
    buf[:, 7] = 45
    _put_digits(buf, 8, day, 2)
    buf[:, 10] = np.where(t_separator, 84, 32)  # 'T' or ' '
    _put_digits(buf, 11, sod // 3600, 2)
    buf[:, 13] = 58  # ':'
    _put_digits(buf, 14, (sod // 60) % 60, 2)
    buf[:, 16] = 58
    _put_digits(buf, 17, sod % 60, 2)
    buf[:, 19] = np.where(off < 0, 45, 43)  # '-' or '+'
    absoff = np.abs(off)
    _put_digits(buf, 20, absoff // 60, 2)
    buf[:, 22] = 58
    _put_digits(buf, 23, absoff % 60, 2)
    offsets = np.arange(0, 25 * (n + 1), 25, dtype=np.int32 if 25 * n < 2**31 else np.int64)
    typ = pa.string() if offsets.dtype == np.int32 else pa.large_string()
    if valid is None or bool(valid.all()):
        bitmap, nulls = None, 0
    else:
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
        nulls = int(n - np.count_nonzero(valid))
    arr = pa.Array.from_buffers(
        typ, n, [bitmap, pa.py_buffer(offsets), pa.py_buffer(buf.reshape(-1))], null_count=nulls
    )
    return arr.cast(pa.string()) if typ != pa.string() else arr


def _labels(
    values: tuple[str, ...], codes: np.ndarray, valid: np.ndarray | None = None
) -> pa.Array:
    """Strings values[codes] as a plain arrow string array (null where not valid)."""
    mask = None if valid is None else ~valid
    return pa.array(values, type=pa.string()).take(pa.array(codes.astype(np.int32), mask=mask))


def _times(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray | int) -> np.ndarray:
    """Uniform integer seconds in [lo, hi) per row (hi > lo)."""
    return lo + (rng.random(lo.shape[0]) * (hi - lo)).astype(np.int64)


def _expand(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    """Row index repeated Poisson(lam) times (one entry per event)."""
    return np.repeat(np.arange(lam.shape[0], dtype=np.int64), rng.poisson(lam))


def _choice(rng: np.random.Generator, weights: tuple[float, ...], size: int) -> np.ndarray:
    """Categorical draws with the given weights."""
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(p.shape[0], size=size, p=p / p.sum()).astype(np.int64)


def _planted_count(rng: np.random.Generator, n: int, rate: float) -> int:
    """Binomial(n, rate) planted rows, but at least one when n > 0 (so small runs have mess)."""
    return max(1, int(rng.binomial(n, rate))) if n > 0 else 0


def _planted_mask(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Bernoulli(rate) row mask with at least one row set when n > 0."""
    mask = rng.random(n) < rate
    if n > 0 and not mask.any():
        mask[rng.integers(0, n)] = True
    return mask


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def _timeline(end_date: date, months: int) -> _Timeline:
    if end_date.day != 1:
        raise ValueError("end_date must be the first day of a month")
    if months < 2:
        raise ValueError("months must be at least 2")
    first = _month_index(end_date) - months
    month_starts = np.array(
        [np.datetime64(f"{(first + k) // 12:04d}-{(first + k) % 12 + 1:02d}-01") for k in
         range(months + 1)],
        dtype="datetime64[D]",
    )  # fmt: skip
    days = month_starts.astype(np.int64)
    return _Timeline(
        start=int(days[0] * DAY),
        end=int(days[-1] * DAY),
        snaps=days * DAY,
        snapshot_days=days.astype(np.int32),
    )


def _products(seed: int) -> tuple[pa.Table, np.ndarray]:
    """The product catalogue (7 categories x 3 products x 3 price tiers) and its list prices."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    ids, names, cats, tiers, prices = [], [], [], [], []
    for ci, category in enumerate(CATEGORIES):
        for ni, noun in enumerate(PRODUCT_NOUNS[ci]):
            for ti, tier in enumerate(PRICE_TIERS):
                ids.append(ci * 9 + ni * 3 + ti + 1)
                names.append(f"{noun} {PRICE_TIER_LABELS[ti]}")
                cats.append(category)
                tiers.append(tier)
                raw = CATEGORY_BASE_PRICE[ci] * PRICE_TIER_MULTIPLIER[ti] * rng.uniform(0.85, 1.2)
                prices.append(max(4.99, float(np.round(raw)) - 0.01))
    table = pa.table(
        [pa.array(ids, _I64), pa.array(names), pa.array(cats), pa.array(tiers), pa.array(prices)],
        schema=SCHEMAS["products"],
    )
    list_price = np.zeros(len(ids) + 1)
    list_price[np.asarray(ids)] = prices
    return table, list_price


def _write_parquet(table: pa.Table, path: Path) -> None:
    dictionary_cols = [
        f.name
        for f in table.schema
        if pa.types.is_string(f.type) and not f.name.endswith("_at")
        and f.name not in ("email", "phone")
    ]  # fmt: skip
    pq.write_table(
        table, path, compression=PARQUET_COMPRESSION, use_dictionary=dictionary_cols or False
    )


# --------------------------------------------------------------------------------------------
# The chunk simulation
# --------------------------------------------------------------------------------------------
def _random_separator_timestamps(
    rng: np.random.Generator, t: np.ndarray, offsets: np.ndarray, valid: np.ndarray | None
) -> pa.Array:
    """Timestamps as raw text, a random share written with 'T' between date and time."""
    sep = rng.random(t.shape[0]) < TIMESTAMP_T_SEPARATOR_SHARE
    return format_timestamps(t, offsets, sep, valid)


def _truth_rows(
    ids: np.ndarray,
    keep: np.ndarray,
    eligible: np.ndarray,
    probability: np.ndarray,
    label: np.ndarray,
    snapshot_days: np.ndarray,
    schema: pa.Schema,
) -> tuple[pa.Table, int, int, float]:
    """A truth table (id, snapshot, eligibility, true probability, label) of the kept
    (entity x snapshot) cells, with the count, positives and probability sum of the eligible
    cells whose window is known (every snapshot but the last)."""
    months = label.shape[1] - 1
    ei, ki = np.nonzero(keep)
    known = ki < months
    elig = eligible[ei, ki]
    lab = label[ei, ki]
    prob = probability[ei, ki]
    table = pa.table(
        [
            pa.array(ids[ei]),
            pa.array(snapshot_days[ki], pa.date32()),
            pa.array(elig),
            pa.array(prob, mask=~elig),
            pa.array(lab, mask=~known),
        ],
        schema=schema,
    )
    ek = elig & known
    return table, int(ek.sum()), int(lab[ek].sum()), float(prob[ek].sum())


class _CampaignHistory:
    """One chunk's campaign history: uplift types, random assignments and the effects on the
    month's up-sell probability or cancellation hazard, the exposure rows and their truth.
    Every draw comes from its own stream, so the main stream sees only changed outcomes."""

    GROUPS = ("treatment", "control", "holdout")  # holdout: a planted unknown group

    def __init__(self, sim: _ChunkSimulator, enabled: bool) -> None:
        self.sim = sim
        self.rng = np.random.default_rng(
            np.random.SeedSequence(sim.task.seed, spawn_key=(3, sim.task.chunk_index))
        )
        self.campaigns = {
            sim.months - campaign.months_before_end: (index, campaign)
            for index, campaign in enumerate(HISTORICAL_CAMPAIGNS)
            if enabled and sim.months - campaign.months_before_end >= 1
        }
        rng, n = self.rng, sim.n
        noise = rng.standard_normal((3, n))
        dog = (sim.friction + 0.5 * noise[0]) / np.sqrt(1.25)
        sure = (sim.growth + 0.5 * sim.eng + 0.5 * noise[1]) / np.sqrt(1.5)
        keen = (0.7 * sim.eng + 0.7 * sim.price_sens + 0.5 * noise[2]) / np.sqrt(1.23)
        self.uplift_type = np.select(
            [
                dog > SLEEPING_DOG_THRESHOLD,
                sure > SURE_THING_THRESHOLD,
                keen > PERSUADABLE_THRESHOLD,
            ],
            [3, 1, 0],
            2,
        )
        low, high = PERSUADABLE_UPGRADE_EFFECT
        self.persuasion = low + (high - low) * rng.random(n)
        self.rows, self.truth_rows = _Cols(), _Cols()

    def _assign(
        self, index: int, campaign: HistoricalCampaign, s: int, population: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw the assigned customers and their groups; return them, the treatment mask and
        whether each could be reached (email consent when the audience was fixed)."""
        rng = self.rng
        candidates = np.flatnonzero(population)
        idx = candidates[rng.random(candidates.shape[0]) < campaign.population_share]
        treated = rng.random(idx.shape[0]) < campaign.treatment_share
        assigned = s + rng.integers(0, ASSIGNMENT_DELAY_SECONDS, idx.shape[0])
        reached = (
            self.sim._email_allowed(idx, assigned)
            if campaign.channel == "email"
            else np.ones(idx.shape[0], bool)
        )
        sent = np.where(
            treated & reached, assigned + rng.integers(*SEND_DELAY_SECONDS, idx.shape[0]), _INF
        )
        self.rows.add(
            c=idx, camp=np.full(idx.shape[0], index), grp=(~treated).astype(np.int64),
            at=assigned, sent=sent,
        )  # fmt: skip
        return idx, treated, reached

    def _record(
        self, index: int, idx: np.ndarray, treated: np.ndarray, p_control: np.ndarray,
        p_treatment: np.ndarray,
    ) -> None:  # fmt: skip
        self.truth_rows.add(
            c=idx, camp=np.full(idx.shape[0], index), grp=(~treated).astype(np.int64),
            p_control=p_control, p_treatment=p_treatment, kind=self.uplift_type[idx],
        )  # fmt: skip

    def upgrade_probability(self, m: int, s: int, elig: np.ndarray, prob: np.ndarray) -> np.ndarray:
        """The month's true up-sell probability, with the treated customers' effect added in
        the month of an upgrade campaign."""
        index, campaign = self.campaigns.get(m, (None, None))
        if campaign is None or campaign.outcome != "upgrade":
            return prob
        idx, treated, reached = self._assign(index, campaign, s, elig & ~self.sim.is_test)
        kind, p = self.uplift_type[idx], prob[idx]
        effect = np.select(
            [kind == 0, kind == 3],
            [self.persuasion[idx], (SLEEPING_DOG_UPGRADE_FACTOR - 1) * p],
            0.0,
        )
        p_treatment = np.where(reached, np.clip(p + effect, 0.0, 1.0), p)
        self._record(index, idx, treated, p, p_treatment)
        adjusted = prob.copy()
        adjusted[idx[treated]] = p_treatment[treated]
        return adjusted

    def cancel_hazard(
        self, m: int, span: tuple[int, int], active: np.ndarray, up_prob: np.ndarray,
        hazard: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        """The month's cancellation hazard, with the treated customers' effect in the month of
        a churn campaign (population: active subscribers above the median hazard)."""
        index, campaign = self.campaigns.get(m, (None, None))
        if campaign is None or campaign.outcome != "churn":
            return hazard
        s, s_next = span
        population = active & ~self.sim.is_test
        if population.any():
            population &= hazard > np.median(hazard[population])
        idx, treated, reached = self._assign(index, campaign, s, population)
        kind, h = self.uplift_type[idx], hazard[idx]
        h_treatment = np.select(
            [kind == 0, kind == 3],
            [PERSUADABLE_CANCEL_FACTOR * h, h + SLEEPING_DOG_CANCEL_EFFECT],
            h,
        )
        h_treatment = np.where(reached, np.clip(h_treatment, 0.0, 1.0), h)
        # A cancellation needs no upgrade this month and lands at s + [1, s_next - s) seconds:
        # the share of those instants inside the read-out window [s, s + 30 days).
        stay = 1.0 - up_prob[idx]
        inside = min(READOUT_WINDOW_SECONDS - 1, s_next - s - 1) / (s_next - s - 1)
        self._record(index, idx, treated, stay * h * inside, stay * h_treatment * inside)
        adjusted = hazard.copy()
        adjusted[idx[treated]] = h_treatment[treated]
        return adjusted

    def table(self) -> pa.Table:
        """The raw campaign_exposures rows, with planted mess from this stream."""
        rng, sim, rows = self.rng, self.sim, self.rows
        c, camp, grp = rows.get("c"), rows.get("camp"), rows.get("grp")
        at, sent = rows.get("at"), rows.get("sent")
        k = c.shape[0]
        ids = sim.base_id + 1 + np.arange(k, dtype=np.int64)
        cust = sim.cust_id[c]
        offsets = sim.offset[c]
        # planted: exact copies (same key), and rows of unknown customers that are otherwise
        # valid, a control row with a sent_at, a send before the assignment, an unknown group
        dup = rng.integers(0, max(k, 1), _planted_count(rng, k, DUPLICATE_EXPOSURE_RATE))
        bad = [
            rng.integers(0, max(k, 1), _planted_count(rng, k, BAD_EXPOSURE_RATE)) for _ in range(4)
        ]
        src = np.concatenate([dup, *bad])
        n_bad = sum(b.shape[0] for b in bad)
        kind = np.repeat(np.arange(4), [b.shape[0] for b in bad])
        b_src = src[dup.shape[0] :]
        total = sim.task.total_customers
        b_grp = np.select([kind == 1, kind == 2, kind == 3], [1, 0, 2], grp[b_src])
        b_at = at[b_src]
        b_sent = np.select(
            [kind == 1, kind == 2],
            [b_at + 3600, b_at - 3600],
            np.where(b_grp == 0, b_at + 900, _INF),
        )
        ids = np.concatenate([ids, ids[dup], sim.base_id + k + 1 + np.arange(n_bad)])
        cust = np.concatenate(
            [cust, cust[dup], total + 1 + rng.integers(0, max(total, 1000), n_bad)]
        )
        camp = np.concatenate([camp, camp[src]])
        grp = np.concatenate([grp, grp[dup], b_grp])
        at = np.concatenate([at, at[dup], b_at])
        sent = np.concatenate([sent, sent[dup], b_sent])
        offsets = np.concatenate([offsets, offsets[src]])
        channels = tuple(campaign.channel for campaign in HISTORICAL_CAMPAIGNS)
        return pa.table(
            {
                "campaign_exposure_id": pa.array(ids),
                "campaign_id": _labels(tuple(c.campaign_id for c in HISTORICAL_CAMPAIGNS), camp),
                "customer_id": pa.array(cust),
                "experiment_group": _labels(self.GROUPS, grp),
                "assigned_at": _random_separator_timestamps(rng, at, offsets, None),
                "sent_at": _random_separator_timestamps(rng, sent, offsets, sent < _INF),
                "channel": _labels(channels, camp),
            }
        )

    def truth(self) -> pa.Table:
        """One row per real exposure: the true outcome probability without and with contact."""
        t = self.truth_rows
        p_control = t.get("p_control", np.float64)
        p_treatment = t.get("p_treatment", np.float64)
        return pa.table(
            [
                _labels(tuple(c.campaign_id for c in HISTORICAL_CAMPAIGNS), t.get("camp")),
                pa.array(self.sim.cust_id[t.get("c")]),
                _labels(self.GROUPS, t.get("grp")),
                pa.array(p_control),
                pa.array(p_treatment),
                pa.array(p_treatment - p_control),
                _labels(UPLIFT_TYPES, t.get("kind")),
            ],
            schema=UPLIFT_TRUTH_SCHEMA,
        )


class _ChunkSimulator:
    """Simulates one chunk of customers over the whole window and writes its part files."""

    def __init__(self, task: _ChunkTask) -> None:
        self.task = task
        self.tl = task.timeline
        self.rng = np.random.default_rng(
            np.random.SeedSequence(task.seed, spawn_key=(1, task.chunk_index))
        )
        self.base_id = task.chunk_index * ID_STRIDE  # ids of other tables start at base_id + 1
        self.n = task.n
        self.months = len(self.tl.snaps) - 1

    # ---- customers and their hidden traits ------------------------------------------------
    def _init_customers(self) -> None:
        rng, n, tl = self.rng, self.n, self.tl
        self.cust_id = self.task.first_customer_id + np.arange(n, dtype=np.int64)
        self.eng = rng.standard_normal(n)
        self.growth = rng.standard_normal(n)
        self.price_sens = rng.standard_normal(n)
        self.friction = rng.standard_normal(n)
        self.budget = 0.3 * self.eng + 0.954 * rng.standard_normal(n)
        self.freq = 0.5 * self.eng + 0.3 * self.budget + 0.75 * rng.standard_normal(n)
        self.app_pref = rng.beta(2.0, 3.0, n)
        self.fav_cat = _choice(rng, CATEGORY_POPULARITY, n)
        self.intent = rng.standard_normal(n)

        self.is_base = rng.random(n) < INITIAL_BASE_SHARE
        base_age = (rng.random(n) * INITIAL_BASE_MAX_AGE_DAYS * DAY).astype(np.int64) + 1
        new_at = _times(rng, np.full(n, tl.start, np.int64), tl.end)
        self.signup = np.where(self.is_base, tl.start - base_age, new_at)
        self.active_from = np.maximum(self.signup, tl.start)  # first instant with history
        self.is_test = rng.random(n) < TEST_ACCOUNT_RATE
        self.country_opt = _choice(rng, tuple(o[4] for o in COUNTRY_OPTIONS), n)
        self.offset = np.array([o[2] for o in COUNTRY_OPTIONS], np.int64)[self.country_opt]

        r = rng.random(n)
        delay = np.where(
            r < 0.80,
            rng.integers(60, 3 * DAY, n),
            (rng.exponential(120 * DAY, n)).astype(np.int64) + 60,
        )
        self.sub_start = self.signup + delay
        self.has_sub = (r < 0.88) & (self.sub_start < tl.end)
        z = 0.8 * self.budget + 0.6 * rng.standard_normal(n) + 0.3 * self.is_base
        self.initial_plan = np.where(self.has_sub, np.digitize(z, [0.2, 1.2]), -1).astype(np.int8)
        self.plan = self.initial_plan.copy()
        self.cancel_at = np.full(n, _INF, np.int64)

        # email consent: opted in at sign-up, some later opt out (some opt back in)
        self.email_in = rng.random(n) < EMAIL_OPT_IN_AT_SIGNUP
        self.email_in_channel = np.where(rng.random(n) < 0.1, 2, 0)  # 'all' or 'email'
        self.email_out_at_signup = ~self.email_in & (rng.random(n) < 0.5)
        lo = self.active_from + 1
        self.optout = self.email_in & (rng.random(n) < EMAIL_LATER_OPT_OUT_RATE) & (lo < tl.end - 2)
        self.optout_at = np.where(self.optout, _times(rng, lo, tl.end - 1), _INF)
        self.optout_channel = np.where(rng.random(n) < 0.2, 2, 0)
        self.reoptin = self.optout & (rng.random(n) < EMAIL_OPT_BACK_IN_SHARE)
        safe_out = np.where(self.reoptin, self.optout_at, tl.end - 2) + 1
        self.reoptin_at = np.where(self.reoptin, _times(rng, safe_out, tl.end), _INF)
        self.sms_in = rng.random(n) < SMS_OPT_IN_AT_SIGNUP

    def _email_allowed(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        out_from, back_at = self.optout_at[idx], self.reoptin_at[idx]
        return self.email_in[idx] & (t >= self.signup[idx]) & ~((t >= out_from) & (t < back_at))

    # ---- 30-day features at a snapshot ---------------------------------------------------
    def _features(self, s: int, m: int) -> dict[str, np.ndarray]:
        n, lo = self.n, s - UPSELL_WINDOW_SECONDS
        acc = {k: np.zeros(n) for k in ("sess", "clicks", "eclk", "orders", "tkt", "esc", "off")}
        for b in self.buffers:
            w = (b["sess_t"] >= lo) & (b["sess_t"] < s)
            acc["sess"] += np.bincount(b["sess_c"][w], minlength=n)
            acc["clicks"] += np.bincount(b["sess_c"][w], b["sess_k"][w], minlength=n)
            w = (b["eclk_t"] >= lo) & (b["eclk_t"] < s)
            acc["eclk"] += np.bincount(b["eclk_c"][w], minlength=n)
            w = (b["ord_t"] >= lo) & (b["ord_t"] < s)
            acc["orders"] += np.bincount(b["ord_c"][w], minlength=n)
            w = (b["tkt_t"] >= lo) & (b["tkt_t"] < s)
            acc["tkt"] += np.bincount(b["tkt_c"][w], minlength=n)
            w = (b["tkt_e"] >= lo) & (b["tkt_e"] < s)
            acc["esc"] += np.bincount(b["tkt_c"][w], minlength=n)
            w = (b["off_t"] >= lo) & (b["off_t"] < s)
            acc["off"] += np.bincount(b["off_c"][w], minlength=n)
        recent = self.value[:, max(0, m - 3) : m].sum(axis=1)
        prior = self.value[:, max(0, m - 6) : max(0, m - 3)].sum(axis=1)
        tenure_months = np.maximum(s - self.sub_start, 0) / (30.4375 * DAY)
        return {
            "log1p_sessions_30d": np.log1p(acc["sess"]),
            "log1p_product_clicks_30d": np.log1p(acc["clicks"]),
            "email_clicks_30d_capped3": np.minimum(acc["eclk"], 3),
            "log1p_orders_30d": np.log1p(acc["orders"]),
            "order_value_trend": np.clip(np.log((recent + 50) / (prior + 50)), -2, 2),
            "tickets_30d_capped3": np.minimum(acc["tkt"], 3),
            "escalations_30d_capped2": np.minimum(acc["esc"], 2),
            "is_plus": (self.plan == 1).astype(np.float64),
            "log1p_tenure_months": np.log1p(tenure_months),
            "upsell_offer_30d": (acc["off"] > 0).astype(np.float64),
            "hidden_need_growth": self.growth,
            "hidden_budget": self.budget,
            "hidden_price_sensitivity": self.price_sens,
            "hidden_intent": self.intent,
        }

    def _snapshot(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Eligibility and true up-sell probability of every customer at snapshot m."""
        s = int(self.tl.snaps[m])
        elig = self.has_sub & (self.sub_start < s) & (self.cancel_at >= s) & (self.plan < 2)
        feats = self._features(s, m)
        logit = np.full(self.n, UPSELL_INTERCEPT)
        for name, coef in UPSELL_COEFFICIENTS.items():
            logit += coef * feats[name]
        return elig, _sigmoid(logit)

    # ---- the month loop -------------------------------------------------------------------
    def run(self) -> _ChunkResult:
        """Simulate all months and write this chunk's parquet parts; return counts and truth."""
        self._init_customers()
        self.history = _CampaignHistory(self, self.task.campaign_history)
        rng, n, tl, months = self.rng, self.n, self.tl, self.months
        self.value = np.zeros((n, months))
        self.buffers: list[dict[str, np.ndarray]] = []
        self.elig = np.zeros((n, months + 1), bool)
        self.prob = np.full((n, months + 1), np.nan)
        self.plan_changes, self.sessions, self.emails = _Cols(), _Cols(), _Cols()
        self.orders, self.lines, self.tickets, self.offers = _Cols(), _Cols(), _Cols(), _Cols()
        upgrades = _Cols()
        for m in range(months):
            s, s_next = int(tl.snaps[m]), int(tl.snaps[m + 1])
            elig, prob = self._snapshot(m)
            prob = self.history.upgrade_probability(m, s, elig, prob)
            self.elig[:, m], self.prob[:, m] = elig, np.where(elig, prob, np.nan)

            # up-sell: upgrade at a uniform instant in [s, min(s + 30 days, next snapshot))
            up = elig & (rng.random(n) < prob)
            ui = np.flatnonzero(up)
            span = min(UPSELL_WINDOW_SECONDS, s_next - s)
            ut = s + rng.integers(1, span, ui.shape[0])
            frm = self.plan[ui]
            to = np.minimum(
                frm + 1 + ((frm == 0) & (rng.random(ui.shape[0]) < DOUBLE_UPGRADE_SHARE)), 2
            )
            self.plan_changes.add(c=ui, t=ut, frm=frm, to=to)
            upgrades.add(c=ui, t=ut)
            self.plan[ui] = to

            # churn and downgrades among subscribers not upgrading this month
            active = self.has_sub & (self.sub_start < s) & (self.cancel_at >= s)
            hazard = _sigmoid(
                -4.6 + 0.6 * self.friction - 0.5 * self.eng + 0.3 * self.price_sens
                - 0.4 * self.growth
            )  # fmt: skip
            hazard = self.history.cancel_hazard(
                m, (s, s_next), active, np.where(elig, prob, 0.0), hazard
            )
            cancel = active & ~up & (rng.random(n) < hazard)
            ci = np.flatnonzero(cancel)
            self.cancel_at[ci] = s + rng.integers(1, s_next - s, ci.shape[0])
            down_p = 0.004 * np.exp(0.5 * self.price_sens + 0.3 * self.friction - 0.3 * self.growth)
            down = active & ~up & ~cancel & (self.plan >= 1) & (rng.random(n) < down_p)
            di = np.flatnonzero(down)
            dt = s + rng.integers(1, s_next - s, di.shape[0])
            self.plan_changes.add(c=di, t=dt, frm=self.plan[di], to=self.plan[di] - 1)
            self.plan[di] -= 1

            self._month_activity(m, s, s_next, elig)
            self.intent = INTENT_PERSISTENCE * self.intent + np.sqrt(
                1 - INTENT_PERSISTENCE**2
            ) * rng.standard_normal(n)

        elig, prob = self._snapshot(months)
        self.elig[:, months], self.prob[:, months] = elig, np.where(elig, prob, np.nan)
        truth, known, upgraded, psum = self._truth(upgrades.get("c"), upgrades.get("t"))
        counts = self._write_tables()
        # Leads last, from their own random stream: nothing above depends on them.
        leads = _LeadSimulator(self.task).run()
        counts.update(leads.row_counts)
        return _ChunkResult(counts, truth, known, upgraded, psum, leads, self.history.truth())

    def _month_activity(self, m: int, s: int, s_next: int, elig: np.ndarray) -> None:
        rng, n = self.rng, self.n
        lo = np.maximum(s, self.signup)
        exists = self.signup < s_next
        frac = np.where(exists, (s_next - lo) / (s_next - s), 0.0)
        subscribed = self.has_sub & (self.sub_start < s_next) & (self.cancel_at >= s)
        churned = self.has_sub & (self.cancel_at < s)
        months_in = np.maximum(s - self.active_from, 0) / (30.4375 * DAY)
        gt = np.exp(np.clip(0.04 * self.growth * months_in, -0.8, 1.2))  # need growth over time

        # sessions
        mult = np.where(subscribed, 1.0, np.where(churned, 0.35, 0.6))
        lam = SESSIONS_PER_MONTH * np.exp(0.6 * self.eng + 0.35 * self.intent - 0.24)
        si = _expand(rng, lam * mult * frac * np.sqrt(gt))
        st = _times(rng, lo[si], s_next)
        pv = 1 + rng.poisson(2.5 * np.exp(0.25 * self.eng[si]))
        pclick = _sigmoid(
            -2.0 + 0.4 * self.growth[si] + 0.6 * np.log(gt[si]) + 0.4 * self.intent[si]
        )
        clicks = rng.binomial(pv, pclick)
        dur = (pv * rng.gamma(2.0, 25.0, si.shape[0]) + rng.integers(5, 60, si.shape[0])).astype(
            np.int64
        )
        app = rng.random(si.shape[0]) < self.app_pref[si]
        self.sessions.add(c=si, t=st, dev=app.astype(np.int64), pv=pv, clicks=clicks, dur=dur)

        # email sends (to customers opted in at the send instant), opens and clicks
        ei = _expand(rng, np.where(self.email_in, EMAIL_SENDS_PER_MONTH * frac, 0.0))
        et = _times(rng, lo[ei], s_next)
        ok = self._email_allowed(ei, et)
        ei, et = ei[ok], et[ok]
        camp = m * len(CAMPAIGN_KINDS) + _choice(rng, CAMPAIGN_WEIGHTS, ei.shape[0])
        opened = rng.random(ei.shape[0]) < _sigmoid(
            -1.3 + 0.9 * self.eng[ei] + 0.3 * self.intent[ei]
        )
        open_t = et + (rng.exponential(6 * 3600, ei.shape[0])).astype(np.int64) + 30
        clicked = opened & (
            rng.random(ei.shape[0])
            < _sigmoid(-1.6 + 0.5 * self.eng[ei] + 0.6 * self.intent[ei] + 0.4 * self.growth[ei])
        )
        kt = open_t + (rng.exponential(300, ei.shape[0])).astype(np.int64) + 5
        end = self.tl.end
        op, ck = opened & (open_t < end), clicked & (kt < end)
        self.emails.add(
            c=np.concatenate([ei, ei[op], ei[ck]]),
            t=np.concatenate([et, open_t[op], kt[ck]]),
            camp=np.concatenate([camp, camp[op], camp[ck]]),
            typ=np.repeat(np.arange(3), [ei.shape[0], int(op.sum()), int(ck.sum())]),
        )

        # orders (value grows for growing customers) and their lines
        omult = np.where(subscribed, 1.0, np.where(churned, 0.6, 0.9))
        lam = ORDERS_PER_MONTH * np.exp(0.6 * self.freq - 0.2 + 0.25 * self.intent)
        oi = _expand(rng, lam * omult * frac)
        ot = _times(rng, lo[oi], s_next)
        value = self._order_lines(oi, gt[oi])
        self.value[:, m] = np.bincount(oi, value, minlength=n)

        # support tickets (friction)
        tmult = np.where(subscribed, 1.2, 0.5)
        ti = _expand(rng, TICKETS_PER_MONTH * np.exp(0.8 * self.friction - 0.32) * tmult * frac)
        tkt_t, tkt_e = self._tickets(ti, _times(rng, lo[ti], s_next))

        # offers shown this month
        offer_c, offer_type = [], []
        for typ, mask, rate in (
            (0, elig, UPSELL_OFFER_RATE),
            (1, self.signup < s, CROSS_SELL_OFFER_RATE),
            (2, churned, WIN_BACK_OFFER_RATE),
            (3, subscribed & (self.friction > 1.0) & (self.sub_start < s), RETENTION_OFFER_RATE),
        ):
            idx = np.flatnonzero(mask & (rng.random(n) < rate))
            offer_c.append(idx)
            offer_type.append(np.full(idx.shape[0], typ))
        fc, ft = np.concatenate(offer_c), np.concatenate(offer_type)
        ftime = _times(rng, lo[fc], s_next)
        self.offers.add(c=fc, t=ftime, typ=ft)
        upsell = ft == 0

        self.buffers.append(
            {
                "sess_c": si, "sess_t": st, "sess_k": clicks.astype(np.float64),
                "eclk_c": ei[ck], "eclk_t": kt[ck],
                "ord_c": oi, "ord_t": ot,
                "tkt_c": ti, "tkt_t": tkt_t, "tkt_e": tkt_e,
                "off_c": fc[upsell], "off_t": ftime[upsell],
            }
        )  # fmt: skip
        self.buffers = self.buffers[-3:]
        self.orders.add(c=oi, t=ot)

    def _order_lines(self, oi: np.ndarray, gt: np.ndarray) -> np.ndarray:
        """Draw lines for the month's orders; return each order's net value."""
        rng = self.rng
        n_orders = oi.shape[0]
        first_order = sum(a.shape[0] for a in self.orders.parts.get("c", []))
        nl = 1 + rng.poisson(0.6, n_orders)
        lo_idx = np.repeat(np.arange(n_orders, dtype=np.int64), nl)
        c = oi[lo_idx]
        score = (
            0.8 * self.budget[c] + 0.6 * np.log(gt[lo_idx]) + 0.8 * rng.standard_normal(c.shape[0])
        )
        tier = np.digitize(score, [-0.6, 0.9])
        cat = np.where(
            rng.random(c.shape[0]) < 0.5,
            self.fav_cat[c],
            _choice(rng, CATEGORY_POPULARITY, c.shape[0]),
        )
        pid = cat * 9 + rng.integers(0, 3, c.shape[0]) * 3 + tier + 1
        qty = np.minimum(1 + rng.poisson(0.3 * gt[lo_idx]), 20)
        price = self.task.list_price[pid]
        promo = rng.random(c.shape[0]) < 0.08
        price = np.where(promo, np.round(price * 0.9, 2), price)
        disc = np.where(
            rng.random(c.shape[0]) < _sigmoid(-1.8 + 0.9 * self.price_sens[c]),
            np.round(qty * price * rng.uniform(0.05, 0.3, c.shape[0]), 2),
            0.0,
        )
        self.lines.add(order=lo_idx + first_order, pid=pid, qty=qty, price=price, disc=disc)
        return np.bincount(lo_idx, qty * price - disc, minlength=n_orders)

    def _tickets(self, ti: np.ndarray, opened: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Draw escalation/resolution of the month's tickets; return open and escalation times."""
        rng, k, end = self.rng, ti.shape[0], self.tl.end
        f = self.friction[ti]
        prio = np.digitize(0.5 * f + rng.standard_normal(k), [-0.8, 0.9, 1.9])
        esc = rng.random(k) < _sigmoid(-2.4 + 0.6 * f + 0.5 * prio)
        esc_at = opened + (rng.exponential(DAY, k)).astype(np.int64) + 600
        esc_at = np.where(esc & (esc_at < end), esc_at, _INF)
        resolve = opened + (rng.lognormal(np.log(30 * 3600), 1.0, k)).astype(np.int64) + 300
        resolve = np.where(esc, resolve + (rng.exponential(2 * DAY, k)).astype(np.int64), resolve)
        resolve = np.where((resolve < end) & (rng.random(k) >= 0.01), resolve, _INF)
        topic = _choice(rng, TOPIC_WEIGHTS, k)
        self.tickets.add(c=ti, t=opened, esc=esc_at, res=resolve, prio=prio, topic=topic)
        return opened, esc_at

    # ---- truth ----------------------------------------------------------------------------
    def _truth(self, up_c: np.ndarray, up_t: np.ndarray) -> tuple[pa.Table, int, int, float]:
        snaps, months, n = self.tl.snaps, self.months, self.n
        label = np.zeros((n, months + 1), bool)
        k = np.searchsorted(snaps, up_t, side="right") - 1
        label[up_c, k] = True  # the upgrade lies in [snaps[k], snaps[k] + 30 days)
        prev = k - 1
        early = (prev >= 0) & (up_t < snaps[np.maximum(prev, 0)] + UPSELL_WINDOW_SECONDS)
        label[up_c[early], prev[early]] = True  # after a short month, also counts for k - 1
        exists = self.signup[:, None] < snaps[None, :]
        keep = exists & ~self.is_test[:, None]
        keep[:, 0] = False  # snapshots start one month after the window start
        return _truth_rows(
            self.cust_id, keep, self.elig, self.prob, label, self.tl.snapshot_days, TRUTH_SCHEMA
        )

    # ---- output ---------------------------------------------------------------------------
    def _ts(self, t: np.ndarray, offsets: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
        return _random_separator_timestamps(self.rng, t, offsets, valid)

    def _ids(self, count: int) -> pa.Array:
        if count >= ID_STRIDE:
            raise ValueError("too many rows in one chunk for the id scheme")
        return pa.array(self.base_id + 1 + np.arange(count, dtype=np.int64))

    def _orphan_ids(self, count: int) -> np.ndarray:
        total = self.task.total_customers
        return total + 1 + self.rng.integers(0, max(total, 1000), count)

    def _random_offsets(self, count: int) -> np.ndarray:
        opts = np.array([o[2] for o in COUNTRY_OPTIONS], np.int64)
        return opts[self.rng.integers(0, opts.shape[0], count)]

    def _write_tables(self) -> dict[str, int]:
        builders: dict[str, Callable[[], pa.Table]] = {
            "customers": self._customers_table,
            "subscriptions": self._subscriptions_table,
            "plan_changes": self._plan_changes_table,
            "orders": self._orders_tables,
            "sessions": self._sessions_table,
            "email_events": self._emails_table,
            "support_tickets": self._tickets_table,
            "offers": self._offers_table,
            "consents": self._consents_table,
            "contract_exceptions": self._exceptions_table,
            "campaign_exposures": self.history.table,
        }
        counts: dict[str, int] = {}
        for name, build in builders.items():
            tables = build()
            if isinstance(tables, pa.Table):
                tables = {name: tables}
            for tname, table in tables.items():
                path = self.task.out_dir / tname / f"part-{self.task.chunk_index:05d}.parquet"
                _write_parquet(table.cast(SCHEMAS[tname]), path)
                counts[tname] = table.num_rows
        return counts

    def _customers_table(self) -> pa.Table:
        rng, n, tl = self.rng, self.n, self.tl
        first = rng.integers(0, len(FIRST_NAMES), n)
        last = rng.integers(0, len(LAST_NAMES), n)
        domain = rng.integers(0, len(EMAIL_DOMAINS), n)
        updated = _times(rng, self.active_from + (tl.end - self.active_from) // 5, tl.end)
        channel = _choice(rng, ACQUISITION_WEIGHTS, n)
        phone_num = rng.integers(2_000_000, 99_999_999, n)

        # duplicates: an older version of a real customer
        gap_ok = (updated - self.active_from > 3600) & ~self.is_test
        dup = np.flatnonzero(gap_ok & (rng.random(n) < DUPLICATE_CUSTOMER_RATE / 0.98))
        dup_kind_email = rng.random(dup.shape[0]) < 0.6
        dup_updated = _times(rng, self.active_from[dup], updated[dup])
        nul = rng.integers(0, n, _planted_count(rng, n, NULL_CUSTOMER_ID_RATE))
        rows = np.concatenate([np.arange(n), dup, nul])
        r, nd = rows.shape[0], dup.shape[0]
        is_dup = np.zeros(r, bool)
        is_dup[n : n + nd] = True
        dup_email = np.zeros(r, bool)
        dup_email[n : n + nd] = dup_kind_email
        dup_country = is_dup & ~dup_email

        cid = pa.array(self.cust_id[rows], mask=np.arange(r) >= n + nd)
        fn_l = pa.array([x.lower() for x in FIRST_NAMES]).take(pa.array(first[rows]))
        ln_l = pa.array([x.lower() for x in LAST_NAMES]).take(pa.array(last[rows]))
        id_s = pc.cast(pa.array(self.cust_id[rows]), pa.string())
        dom = pa.array(EMAIL_DOMAINS).take(pa.array(domain[rows]))
        local = pc.binary_join_element_wise(pc.binary_join_element_wise(fn_l, ln_l, "."), id_s, "")
        canonical = pc.binary_join_element_wise(local, dom, "@")
        styles = [
            canonical,
            pc.utf8_upper(canonical),
            pc.utf8_capitalize(canonical),
            pc.binary_join_element_wise(" ", canonical, "  ", ""),
            pc.binary_join_element_wise("  ", pc.utf8_upper(canonical), " ", ""),
        ]
        messy = rng.random(n) < MESSY_EMAIL_RATE
        style = np.where(messy, rng.integers(1, len(styles), n), 0)[rows]
        # an email duplicate gets a style different from the true row's
        style = np.where(dup_email, style % (len(styles) - 1) + 1, style)
        email = styles[0]
        for k in range(1, len(styles)):
            email = pc.if_else(pa.array(style == k), styles[k], email)
        test = self.is_test[rows]
        email = pc.if_else(
            pa.array(test),
            pc.binary_join_element_wise("qa.user", id_s, "@test.invalid", ""),
            email,
        )
        null_email = (rng.random(n) < NULL_EMAIL_RATE)[rows] & ~test & ~is_dup
        email = pc.if_else(pa.array(null_email), pa.scalar(None, pa.string()), email)
        first_name = pc.if_else(
            pa.array(test), "Test", pa.array(FIRST_NAMES).take(pa.array(first[rows]))
        )
        last_name = pa.array(LAST_NAMES).take(pa.array(last[rows]))

        opt = self.country_opt[rows].copy()
        n_opts = len(COUNTRY_OPTIONS)
        alt = (opt + 4 + rng.integers(0, n_opts - 8, r)) % n_opts  # another country
        opt = np.where(dup_country, alt, opt)
        country = _labels(tuple(o[0] for o in COUNTRY_OPTIONS), opt)
        reg_code = np.array([REGIONS.index(o[1]) for o in COUNTRY_OPTIONS])[opt]
        region = _labels(REGIONS, reg_code, valid=(rng.random(r) >= NULL_ATTRIBUTE_RATE))
        calling = _labels(tuple(o[3] for o in COUNTRY_OPTIONS), self.country_opt[rows])
        phone = pc.binary_join_element_wise(
            calling, pc.cast(pa.array(phone_num[rows]), pa.string()), " "
        )
        phone = pc.if_else(pa.array(rng.random(r) < NULL_ATTRIBUTE_RATE), None, phone)
        upd = updated[rows].copy()
        upd[n : n + nd] = dup_updated
        offs = np.array([o[2] for o in COUNTRY_OPTIONS], np.int64)[opt]
        table = pa.table(
            {
                "customer_id": cid,
                "email": email,
                "first_name": first_name,
                "last_name": last_name,
                "phone": phone,
                "country_code": country,
                "region": region,
                "acquisition_channel": _labels(ACQUISITION_CHANNELS, channel[rows]),
                "signed_up_at": self._ts(self.signup[rows], offs),
                "updated_at": self._ts(upd, offs),
            }
        )
        order = np.lexsort((upd, self.cust_id[rows], np.arange(r) >= n + nd))
        return table.take(pa.array(order))

    def _sub_ids(self) -> np.ndarray:
        """Subscription id per local customer (0 where none)."""
        return np.where(self.has_sub, self.base_id + np.cumsum(self.has_sub), 0)

    def _subscriptions_table(self) -> pa.Table:
        idx = np.flatnonzero(self.has_sub)
        cancelled = self.cancel_at[idx] < _INF
        return pa.table(
            {
                "subscription_id": pa.array(self._sub_ids()[idx]),
                "customer_id": pa.array(self.cust_id[idx]),
                "initial_plan": _labels(PLANS, self.initial_plan[idx]),
                "started_at": self._ts(self.sub_start[idx], self.offset[idx]),
                "cancelled_at": self._ts(self.cancel_at[idx], self.offset[idx], cancelled),
            }
        )

    def _plan_changes_table(self) -> pa.Table:
        rng = self.rng
        c, t = self.plan_changes.get("c"), self.plan_changes.get("t")
        frm, to = self.plan_changes.get("frm", np.int8), self.plan_changes.get("to", np.int8)
        # planted: no-op changes (from_plan = to_plan) on random subscribers
        subs = np.flatnonzero(self.has_sub & (self.sub_start < self.tl.end - 2))
        k = _planted_count(rng, c.shape[0], NOOP_PLAN_CHANGE_RATE) if subs.shape[0] else 0
        nc = subs[rng.integers(0, max(subs.shape[0], 1), k)]
        lo = np.maximum(self.sub_start[nc], self.tl.start) + 1
        nt = _times(rng, lo, self.tl.end)
        nplan = rng.integers(0, 3, k)
        c, t = np.concatenate([c, nc]), np.concatenate([t, nt])
        frm, to = np.concatenate([frm, nplan]), np.concatenate([to, nplan])
        return pa.table(
            {
                "plan_change_id": self._ids(c.shape[0]),
                "subscription_id": pa.array(self._sub_ids()[c]),
                "changed_at": self._ts(t, self.offset[c]),
                "from_plan": _labels(PLANS, frm),
                "to_plan": _labels(PLANS, to),
            }
        )

    def _orders_tables(self) -> dict[str, pa.Table]:
        rng, tl = self.rng, self.tl
        c, t = self.orders.get("c"), self.orders.get("t")
        n_real = c.shape[0]
        f = self.friction[c]
        r = rng.random(n_real)
        p_ref = REFUND_RATE * np.exp(0.4 * f - 0.08)
        status = np.where(r < p_ref, 1, np.where(r < p_ref + CANCELLED_ORDER_RATE, 2, 0))
        chan = np.where(
            rng.random(n_real) < _sigmoid(-3.0 + self.budget[c]),
            2,
            (rng.random(n_real) < self.app_pref[c]).astype(np.int64),
        )
        # planted: orphan orders (unknown customer) and orders without customer
        n_orph = _planted_count(rng, n_real, ORPHAN_ORDER_RATE)
        n_null = _planted_count(rng, n_real, NULL_CUSTOMER_ORDER_RATE)
        k = n_orph + n_null
        ext_cust = np.concatenate([self._orphan_ids(n_orph), np.zeros(n_null, np.int64)])
        ext_t = _times(rng, np.full(k, tl.start, np.int64), tl.end)
        cust = np.concatenate([self.cust_id[c], ext_cust])
        cust_valid = np.concatenate([np.ones(n_real + n_orph, bool), np.zeros(n_null, bool)])
        offs = np.concatenate([self.offset[c], self._random_offsets(k)])
        status = np.concatenate([status, np.zeros(k, np.int64)])
        chan = np.concatenate([chan, rng.integers(0, 2, k)])
        n_orders = n_real + k
        orders = pa.table(
            {
                "order_id": self._ids(n_orders),
                "customer_id": pa.array(cust, mask=~cust_valid),
                "ordered_at": self._ts(np.concatenate([t, ext_t]), offs),
                "order_status": _labels(ORDER_STATUSES, status),
                "sales_channel": _labels(SALES_CHANNELS, chan),
            }
        )

        lo_ord = self.lines.get("order")
        pid, qty = self.lines.get("pid"), self.lines.get("qty")
        price, disc = self.lines.get("price", np.float64), self.lines.get("disc", np.float64)
        # one line for each extra order
        e_pid = rng.integers(1, 64, k)
        lo_ord = np.concatenate([lo_ord, n_real + np.arange(k)])
        pid = np.concatenate([pid, e_pid])
        qty = np.concatenate([qty, np.ones(k, np.int64)])
        price = np.concatenate([price, self.task.list_price[e_pid]])
        disc = np.concatenate([disc, np.zeros(k)])
        # returns: an extra negative-quantity line on completed orders
        nl = lo_ord.shape[0]
        ret = np.flatnonzero((rng.random(nl) < RETURN_LINE_RATE) & (status[lo_ord] == 0))
        rq = -rng.integers(1, qty[ret] + 1)
        # orphan lines: order ids inside this chunk's id range but beyond its last order
        n_ol = _planted_count(rng, nl, ORPHAN_LINE_RATE)
        o_pid = rng.integers(1, 64, n_ol)
        lo_ord = np.concatenate([lo_ord, lo_ord[ret], n_orders + 1 + rng.integers(0, 1000, n_ol)])
        pid = np.concatenate([pid, pid[ret], o_pid])
        qty = np.concatenate([qty, rq, np.ones(n_ol, np.int64)])
        price = np.concatenate([price, price[ret], self.task.list_price[o_pid]])
        disc = np.concatenate([disc, np.zeros(ret.shape[0] + n_ol)])
        # impossible values
        total = lo_ord.shape[0]
        bad = np.flatnonzero(_planted_mask(rng, total, IMPOSSIBLE_LINE_RATE))
        zero_q = rng.random(bad.shape[0]) < 0.5
        qty[bad[zero_q]] = 0
        price[bad[~zero_q]] = -price[bad[~zero_q]]
        order = np.argsort(lo_ord, kind="stable")
        lines = pa.table(
            {
                "order_line_id": self._ids(total),
                "order_id": pa.array(self.base_id + 1 + lo_ord[order]),
                "product_id": pa.array(pid[order]),
                "quantity": pa.array(qty[order].astype(np.int32)),
                "unit_price": pa.array(price[order]),
                "discount_amount": pa.array(disc[order]),
            }
        )
        return {"orders": orders, "order_lines": lines}

    def _with_orphans(self, c: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, ...]:
        """Append ORPHAN_CHILD_RATE extra rows for unknown customers; return ids, times, offsets."""
        rng, tl = self.rng, self.tl
        k = _planted_count(rng, c.shape[0], ORPHAN_CHILD_RATE)
        src = rng.integers(0, max(c.shape[0], 1), k)
        ids = np.concatenate([self.cust_id[c], self._orphan_ids(k)])
        times = np.concatenate([t, _times(rng, np.full(k, tl.start, np.int64), tl.end)])
        offs = np.concatenate([self.offset[c], self._random_offsets(k)])
        return ids, times, offs, np.concatenate([np.arange(c.shape[0]), src])

    def _sessions_table(self) -> pa.Table:
        s = self.sessions
        ids, t, offs, src = self._with_orphans(s.get("c"), s.get("t"))
        dur = s.get("dur")[src]
        neg = _planted_mask(self.rng, dur.shape[0], NEGATIVE_DURATION_RATE)
        dur = np.where(neg, -dur, dur)

        def col(name: str) -> np.ndarray:
            return s.get(name)[src]

        return pa.table(
            {
                "session_id": self._ids(ids.shape[0]),
                "customer_id": pa.array(ids),
                "started_at": self._ts(t, offs),
                "device": _labels(DEVICES, col("dev")),
                "page_views": pa.array(col("pv").astype(np.int32)),
                "product_clicks": pa.array(col("clicks").astype(np.int32)),
                "duration_seconds": pa.array(dur.astype(np.int32)),
            }
        )

    def _emails_table(self) -> pa.Table:
        e = self.emails
        ids, t, offs, src = self._with_orphans(e.get("c"), e.get("t"))
        camp, typ = e.get("camp")[src], e.get("typ")[src]
        return pa.table(
            {
                "email_event_id": self._ids(ids.shape[0]),
                "customer_id": pa.array(ids),
                "email_campaign_code": pa.array(self._campaign_codes()).take(pa.array(camp)),
                "event_type": _labels(EMAIL_EVENT_TYPES, typ),
                "occurred_at": self._ts(t, offs),
            }
        )

    def _campaign_codes(self) -> list[str]:
        days = self.tl.snapshot_days[:-1].astype("datetime64[D]")
        return [
            f"{kind.split('-')[0]}-{str(d)[:7].replace('-', '')}"
            + (f"-{kind.split('-')[1]}" if "-" in kind else "")
            for d in days
            for kind in CAMPAIGN_KINDS
        ]

    def _tickets_table(self) -> pa.Table:
        rng, tk = self.rng, self.tickets
        c, t = tk.get("c"), tk.get("t")
        esc, res = tk.get("esc"), tk.get("res")
        # planted: resolved before opened
        late_enough = t - 3 * DAY >= self.tl.start
        bad = _planted_mask(rng, c.shape[0], RESOLVED_BEFORE_OPENED_RATE) & late_enough
        res = np.where(bad, t - rng.integers(60, 3 * DAY, c.shape[0]), res)
        return pa.table(
            {
                "ticket_id": self._ids(c.shape[0]),
                "customer_id": pa.array(self.cust_id[c]),
                "opened_at": self._ts(t, self.offset[c]),
                "escalated_at": self._ts(esc, self.offset[c], esc < _INF),
                "resolved_at": self._ts(res, self.offset[c], res < _INF),
                "priority": _labels(PRIORITIES, tk.get("prio")),
                "topic": _labels(TOPICS, tk.get("topic")),
            }
        )

    def _offers_table(self) -> pa.Table:
        rng, o = self.rng, self.offers
        c, t, typ = o.get("c"), o.get("t"), o.get("typ")
        k = c.shape[0]
        chan = np.where(
            rng.random(k) < _sigmoid(-2.5 + self.budget[c]), 2, (rng.random(k) < 0.4).astype(int)
        )
        p_acc = _sigmoid(
            -2.3 + 0.6 * self.growth[c] + 0.4 * self.budget[c] - 0.3 * self.price_sens[c]
        )
        r = rng.random(k)
        resp = np.where(r < p_acc, 0, np.where(r < p_acc + 0.3, 1, -1))
        rt = t + (rng.exponential(2 * DAY, k)).astype(np.int64) + 60
        answered = (resp >= 0) & (rt < self.tl.end)
        return pa.table(
            {
                "offer_id": self._ids(k),
                "customer_id": pa.array(self.cust_id[c]),
                "offer_type": _labels(OFFER_TYPES, typ),
                "channel": _labels(OFFER_CHANNELS, chan),
                "shown_at": self._ts(t, self.offset[c]),
                "responded_at": self._ts(rt, self.offset[c], answered),
                "response": _labels(OFFER_RESPONSES, np.maximum(resp, 0), answered),
            }
        )

    def _consents_table(self) -> pa.Table:
        rng, n, tl = self.rng, self.n, self.tl
        ar = np.arange(n)
        parts = [
            # (customer idx, channel, status, time)
            (
                ar[self.email_in],
                self.email_in_channel[self.email_in],
                0,
                self.signup[self.email_in],
            ),
            (ar[self.email_out_at_signup], 0, 1, self.signup[self.email_out_at_signup]),
            (ar[self.sms_in], 1, 0, self.signup[self.sms_in] + 1),
            (ar[self.optout], self.optout_channel[self.optout], 1, self.optout_at[self.optout]),
            (
                ar[self.reoptin],
                self.optout_channel[self.reoptin],
                0,
                self.reoptin_at[self.reoptin],
            ),
        ]
        sms_out = self.sms_in & (rng.random(n) < 0.03)
        parts.append((ar[sms_out], 1, 1, _times(rng, self.active_from[sms_out] + 2, tl.end)))
        c = np.concatenate([p[0] for p in parts])
        chan = np.concatenate([np.broadcast_to(p[1], p[0].shape) for p in parts])
        status = np.concatenate([np.full(p[0].shape[0], p[2]) for p in parts])
        t = np.concatenate([p[3] for p in parts])
        order = np.lexsort((t, c))
        c, chan, status, t = c[order], chan[order], status[order], t[order]
        return pa.table(
            {
                "consent_event_id": self._ids(c.shape[0]),
                "customer_id": pa.array(self.cust_id[c]),
                "channel": _labels(CONSENT_CHANNELS, chan),
                "consent_status": _labels(CONSENT_STATUSES, status),
                "recorded_at": self._ts(t, self.offset[c]),
            }
        )

    def _exceptions_table(self) -> pa.Table:
        rng, n, tl = self.rng, self.n, self.tl
        c = np.flatnonzero((rng.random(n) < CONTRACT_EXCEPTION_RATE) & ~self.is_test)
        k = c.shape[0]
        starts = _times(rng, self.active_from[c], tl.end)
        ends = starts + rng.integers(30 * DAY, 365 * DAY, k)
        has_end = (rng.random(k) < 0.5) & (ends < tl.end)
        return pa.table(
            {
                "exception_id": self._ids(k),
                "customer_id": pa.array(self.cust_id[c]),
                "exception_reason": _labels(EXCEPTION_REASONS, _choice(rng, EXCEPTION_WEIGHTS, k)),
                "starts_at": self._ts(starts, self.offset[c]),
                "ends_at": self._ts(ends, self.offset[c], has_end),
            }
        )


# --------------------------------------------------------------------------------------------
# The leads of a chunk (their own random stream)
# --------------------------------------------------------------------------------------------
class _LeadSimulator:
    """Simulates one chunk's leads: hidden traits, monthly activity and conversions."""

    def __init__(self, task: _ChunkTask) -> None:
        self.task = task
        self.tl = task.timeline
        self.rng = np.random.default_rng(
            np.random.SeedSequence(task.seed, spawn_key=(2, task.chunk_index))
        )
        self.base_id = task.chunk_index * ID_STRIDE  # lead and activity ids start at base_id + 1
        self.n = int(LEADS_PER_CUSTOMER * task.n + 0.5)
        self.months = len(self.tl.snaps) - 1

    def _init_leads(self) -> None:
        rng, n, tl = self.rng, self.n, self.tl
        self.lead_id = self.base_id + 1 + np.arange(n, dtype=np.int64)
        self.fit = rng.standard_normal(n)
        self.interest = rng.standard_normal(n)
        self.intent = rng.standard_normal(n)
        backlog = rng.random(n) < LEAD_BACKLOG_SHARE
        age = (rng.random(n) * LEAD_BACKLOG_MAX_AGE_DAYS * DAY).astype(np.int64) + 1
        new_at = _times(rng, np.full(n, tl.start, np.int64), tl.end)
        self.created = np.where(backlog, tl.start - age, new_at)
        self.converted = np.full(n, _INF, np.int64)
        self.source = _choice(rng, LEAD_SOURCE_WEIGHTS, n)
        size_score = 0.7 * self.fit + 0.7 * rng.standard_normal(n)  # bigger firms fit better
        self.size = np.digitize(size_score, [-0.67, 0.13, 0.77, 1.4])
        self.size_known = rng.random(n) >= NULL_COMPANY_SIZE_RATE
        self.industry = _choice(rng, INDUSTRY_WEIGHTS, n)
        self.industry_known = rng.random(n) >= NULL_INDUSTRY_RATE
        student = rng.random(n) < _sigmoid(-3.0 - 1.0 * self.fit)  # low fit: more students
        self.role = np.where(student, len(JOB_ROLES) - 1, _choice(rng, JOB_ROLE_WEIGHTS, n))
        self.role_known = rng.random(n) >= NULL_JOB_ROLE_RATE
        self.business_email = rng.random(n) < _sigmoid(
            LEAD_BUSINESS_EMAIL_INTERCEPT + 0.9 * self.fit
        )
        self.consent = rng.random(n) < LEAD_MARKETING_CONSENT_RATE
        self.country_opt = _choice(rng, tuple(o[4] for o in COUNTRY_OPTIONS), n)
        self.offset = np.array([o[2] for o in COUNTRY_OPTIONS], np.int64)[self.country_opt]
        self.static_logit = (
            ACQUISITION_INTERCEPT
            + np.asarray(LEAD_SOURCE_EFFECTS)[self.source]
            + np.asarray(COMPANY_SIZE_EFFECTS)[self.size]
            + np.asarray(JOB_ROLE_EFFECTS)[self.role]
            + np.asarray(INDUSTRY_EFFECTS)[self.industry]
        )

    # ---- 30-day features and the true probability at a snapshot ---------------------------
    def _activity_30d(self, s: int) -> np.ndarray:
        """Activities per type (rows) and lead (columns) in [s - 30 days, s)."""
        n, kinds = self.n, len(LEAD_ACTIVITY_TYPES)
        counts = np.zeros(kinds * n)
        for b in self.buffers:
            w = (b["t"] >= s - ACQUISITION_WINDOW_SECONDS) & (b["t"] < s)
            counts += np.bincount(b["typ"][w] * n + b["c"][w], minlength=kinds * n)
        return counts.reshape(kinds, n)

    def _features(self, s: int) -> dict[str, np.ndarray]:
        acts = dict(zip(LEAD_ACTIVITY_TYPES, self._activity_30d(s), strict=True))
        age_months = np.maximum(s - self.created, 0) / (30.4375 * DAY)
        return {
            "log1p_web_visits_30d": np.log1p(acts["web_visit"]),
            "log1p_pricing_page_views_30d": np.log1p(acts["pricing_page_view"]),
            "log1p_content_downloads_30d": np.log1p(acts["content_download"]),
            "webinars_attended_30d_capped2": np.minimum(acts["webinar_attended"], 2),
            "log1p_email_clicks_30d": np.log1p(acts["email_click"]),
            "demo_request_30d": (acts["demo_request"] > 0).astype(np.float64),
            "log1p_age_months": np.log1p(age_months),
            "has_business_email": self.business_email.astype(np.float64),
            "has_marketing_consent": self.consent.astype(np.float64),
            "hidden_fit": self.fit,
            "hidden_interest": self.interest,
            "hidden_intent": self.intent,
        }

    def _snapshot(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        """Which leads are open at s, and each one's true probability of converting by s + 30d."""
        open_at_s = (self.created < s) & (self.converted >= s)
        feats = self._features(s)
        logit = self.static_logit.copy()
        for name, coef in ACQUISITION_COEFFICIENTS.items():
            logit += coef * feats[name]
        return open_at_s, _sigmoid(logit)

    # ---- the month loop -------------------------------------------------------------------
    def run(self) -> _LeadResult:
        """Simulate all months and write this chunk's lead parts; return counts and truth."""
        self._init_leads()
        rng, n, tl, months = self.rng, self.n, self.tl, self.months
        self.buffers: list[dict[str, np.ndarray]] = []
        self.elig = np.zeros((n, months + 1), bool)
        self.prob = np.full((n, months + 1), np.nan)
        self.activities = _Cols()
        for m in range(months):
            s, s_next = int(tl.snaps[m]), int(tl.snaps[m + 1])
            elig, prob = self._snapshot(s)
            self.elig[:, m], self.prob[:, m] = elig, np.where(elig, prob, np.nan)
            # a conversion drawn at s happens in [s, min(s + 30 days, next snapshot))
            ci = np.flatnonzero(elig & (rng.random(n) < prob))
            span = min(ACQUISITION_WINDOW_SECONDS, s_next - s)
            self.converted[ci] = s + rng.integers(1, span, ci.shape[0])
            self._month_activity(s, s_next)
            self.intent = LEAD_INTENT_PERSISTENCE * self.intent + np.sqrt(
                1 - LEAD_INTENT_PERSISTENCE**2
            ) * rng.standard_normal(n)
        elig, prob = self._snapshot(int(tl.snaps[months]))
        self.elig[:, months], self.prob[:, months] = elig, np.where(elig, prob, np.nan)
        truth, known, converted, psum = self._truth()
        counts = self._write_tables()
        n_converted = int(np.count_nonzero(self.converted < _INF))
        return _LeadResult(counts, truth, n, n_converted, known, converted, psum)

    def _month_activity(self, s: int, s_next: int) -> None:
        """Activities of the leads open during [s, s_next); a lead stops at its conversion."""
        rng = self.rng
        lo = np.maximum(s, self.created)
        alive = (self.created < s_next) & (self.converted > lo)
        frac = np.where(alive, (s_next - lo) / (s_next - s), 0.0)
        months_old = np.maximum(lo - self.created, 0) / (30.4375 * DAY)
        scale = frac * np.exp(-LEAD_ACTIVITY_AGE_DECAY * months_old)
        cs, ts, ks = [], [], []
        for k, (rate, (a_int, a_intent, a_fit)) in enumerate(
            zip(LEAD_ACTIVITY_RATES, LEAD_ACTIVITY_LOADINGS, strict=True)
        ):
            traits = a_int * self.interest + a_intent * self.intent + a_fit * self.fit
            lam = rate * np.exp(traits - 0.5 * (a_int**2 + a_intent**2 + a_fit**2)) * scale
            if LEAD_ACTIVITY_TYPES[k] == "email_click":
                lam = np.where(self.consent, lam, 0.0)  # marketing email only with consent
            idx = _expand(rng, lam)
            t = _times(rng, lo[idx], s_next)
            keep = t < self.converted[idx]
            cs.append(idx[keep])
            ts.append(t[keep])
            ks.append(np.full(int(keep.sum()), k, np.int64))
        c, t, typ = np.concatenate(cs), np.concatenate(ts), np.concatenate(ks)
        self.activities.add(c=c, t=t, typ=typ)
        self.buffers = [*self.buffers[-1:], {"c": c, "t": t, "typ": typ}]

    # ---- truth ----------------------------------------------------------------------------
    def _truth(self) -> tuple[pa.Table, int, int, float]:
        snaps, months, n = self.tl.snaps, self.months, self.n
        label = np.zeros((n, months + 1), bool)
        ci = np.flatnonzero(self.converted < _INF)
        ct = self.converted[ci]
        k = np.searchsorted(snaps, ct, side="right") - 1
        label[ci, k] = True  # the conversion lies in [snaps[k], snaps[k] + 30 days)
        prev = k - 1
        early = (prev >= 0) & (ct < snaps[np.maximum(prev, 0)] + ACQUISITION_WINDOW_SECONDS)
        label[ci[early], prev[early]] = True  # after a short month, also counts for k - 1
        keep = self.created[:, None] < snaps[None, :]
        keep[:, 0] = False  # snapshots start one month after the window start
        return _truth_rows(
            self.lead_id,
            keep,
            self.elig,
            self.prob,
            label,
            self.tl.snapshot_days,
            ACQUISITION_TRUTH_SCHEMA,
        )

    # ---- output ---------------------------------------------------------------------------
    def _ts(self, t: np.ndarray, offsets: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
        return _random_separator_timestamps(self.rng, t, offsets, valid)

    def _write_tables(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name, table in (
            ("leads", self._leads_table()),
            ("lead_activities", self._activities_table()),
        ):
            path = self.task.out_dir / name / f"part-{self.task.chunk_index:05d}.parquet"
            _write_parquet(table.cast(SCHEMAS[name]), path)
            counts[name] = table.num_rows
        return counts

    def _leads_table(self) -> pa.Table:
        rng, n, tl = self.rng, self.n, self.tl
        first = rng.integers(0, len(FIRST_NAMES), n)
        last = rng.integers(0, len(LAST_NAMES), n)
        free_domain = rng.integers(0, len(EMAIL_DOMAINS), n)
        company = rng.integers(0, len(COMPANY_NAMES), n)
        suffix = rng.integers(0, len(COMPANY_SUFFIXES), n)
        tld = rng.integers(0, len(COMPANY_TLDS), n)
        phone_num = rng.integers(2_000_000, 99_999_999, n)
        converted = self.converted < _INF
        first_seen = np.maximum(self.created, tl.start)
        lo = np.minimum(np.maximum(first_seen, np.where(converted, self.converted, 0)), tl.end - 1)
        updated = _times(rng, lo + (tl.end - lo) // 5, tl.end)

        # planted: converted before created (on open leads created well inside the window)
        plantable = ~converted & (self.created - 3 * DAY >= tl.start)
        backwards = _planted_mask(rng, n, CONVERTED_BEFORE_CREATED_RATE) & plantable
        conv = np.where(backwards, self.created - rng.integers(3600, 3 * DAY, n), self.converted)
        has_conv = converted | backwards

        # duplicates: an older version of a lead; null ids: copies without a lead_id
        gap_ok = updated - first_seen > 3600
        dup = np.flatnonzero(gap_ok & (rng.random(n) < DUPLICATE_LEAD_RATE))
        # an older email style, or an older profile (when the lead has a profile to change)
        no_profile = ~self.size_known[dup] & ~self.role_known[dup]
        dup_kind_email = (rng.random(dup.shape[0]) < 0.5) | no_profile
        dup_updated = _times(rng, first_seen[dup], updated[dup])
        nul = rng.integers(0, n, _planted_count(rng, n, NULL_LEAD_ID_RATE))
        rows = np.concatenate([np.arange(n), dup, nul])
        r, nd = rows.shape[0], dup.shape[0]
        is_dup = np.zeros(r, bool)
        is_dup[n : n + nd] = True
        dup_email = np.zeros(r, bool)
        dup_email[n : n + nd] = dup_kind_email
        dup_profile = is_dup & ~dup_email
        upd = updated[rows].copy()
        upd[n : n + nd] = dup_updated

        # email: a company domain for most well-fitting leads, else a free-mail domain
        lead_s = pc.cast(pa.array(self.lead_id[rows]), pa.string())
        fn_l = pa.array([x.lower() for x in FIRST_NAMES]).take(pa.array(first[rows]))
        ln_l = pa.array([x.lower() for x in LAST_NAMES]).take(pa.array(last[rows]))
        name = pc.binary_join_element_wise(fn_l, ln_l, ".")
        local = pc.binary_join_element_wise(name, lead_s, "")
        company_domain = pc.binary_join_element_wise(
            pc.binary_join_element_wise(
                pa.array(COMPANY_NAMES).take(pa.array(company[rows])),
                pa.array(COMPANY_SUFFIXES).take(pa.array(suffix[rows])),
                "",
            ),
            pa.array(COMPANY_TLDS).take(pa.array(tld[rows])),
            ".",
        )
        domain = pc.if_else(
            pa.array(self.business_email[rows]),
            company_domain,
            pa.array(EMAIL_DOMAINS).take(pa.array(free_domain[rows])),
        )
        canonical = pc.binary_join_element_wise(local, domain, "@")
        styles = [
            canonical,
            pc.utf8_upper(canonical),
            pc.utf8_capitalize(canonical),
            pc.binary_join_element_wise(" ", canonical, "  ", ""),
            pc.binary_join_element_wise("  ", pc.utf8_upper(canonical), " ", ""),
        ]
        messy = rng.random(n) < MESSY_EMAIL_RATE
        style = np.where(messy, rng.integers(1, len(styles), n), 0)[rows]
        style = np.where(dup_email, style % (len(styles) - 1) + 1, style)
        email = styles[0]
        for k in range(1, len(styles)):
            email = pc.if_else(pa.array(style == k), styles[k], email)
        # planted: invalid emails (every record of the lead)
        invalid = _planted_mask(rng, n, INVALID_LEAD_EMAIL_RATE)
        invalid_kind = rng.integers(0, 4, n)[rows]
        variants = [
            pc.binary_join_element_wise(local, domain, " at "),
            pc.binary_join_element_wise(local, domain, "@@"),
            pc.binary_join_element_wise(local, pc.replace_substring(domain, ".", ""), "@"),
            pc.binary_join_element_wise(local, pa.scalar(""), "@"),
        ]
        for k, variant in enumerate(variants):
            email = pc.if_else(pa.array(invalid[rows] & (invalid_kind == k)), variant, email)

        # phone: "+<calling code> <number>", some with dashes, parentheses or odd spacing
        calling = _labels(tuple(o[3] for o in COUNTRY_OPTIONS), self.country_opt[rows])
        number = pc.cast(pa.array(phone_num[rows]), pa.string())
        phone_styles = [
            pc.binary_join_element_wise(calling, number, " "),
            pc.binary_join_element_wise(
                calling,
                pc.utf8_slice_codeunits(number, 0, 4),
                pc.utf8_slice_codeunits(number, 4),
                "-",
            ),
            pc.binary_join_element_wise("(", calling, ") ", number, ""),
            pc.binary_join_element_wise(calling, number, "  "),
            pc.binary_join_element_wise(" ", calling, number, " ", ""),
        ]
        messy_phone = rng.random(n) < MESSY_LEAD_PHONE_RATE
        phone_style = np.where(messy_phone, rng.integers(1, len(phone_styles), n), 0)[rows]
        phone = phone_styles[0]
        for k in range(1, len(phone_styles)):
            phone = pc.if_else(pa.array(phone_style == k), phone_styles[k], phone)
        phone = pc.if_else(pa.array(rng.random(r) < NULL_LEAD_PHONE_RATE), None, phone)

        # an older profile: a smaller company size or none, no job role yet
        size = self.size[rows].copy()
        size_known = self.size_known[rows].copy()
        smaller = size > 0
        size = np.where(dup_profile & smaller, size - 1, size)
        size_known = size_known & ~(dup_profile & ~smaller)
        role_known = self.role_known[rows] & ~dup_profile

        region_code = np.array([REGIONS.index(o[1]) for o in COUNTRY_OPTIONS])[self.country_opt]
        offs = self.offset[rows]
        conv_valid = has_conv[rows] & (~is_dup | backwards[rows] | (conv[rows] <= upd))
        table = pa.table(
            {
                "lead_id": pa.array(self.lead_id[rows], mask=np.arange(r) >= n + nd),
                "email": email,
                "phone": phone,
                "first_name": pa.array(FIRST_NAMES).take(pa.array(first[rows])),
                "last_name": pa.array(LAST_NAMES).take(pa.array(last[rows])),
                "country_code": _labels(
                    tuple(o[0] for o in COUNTRY_OPTIONS), self.country_opt[rows]
                ),
                "region": _labels(
                    REGIONS, region_code[rows], valid=rng.random(r) >= NULL_ATTRIBUTE_RATE
                ),
                "lead_source": _labels(LEAD_SOURCES, self.source[rows]),
                "company_size": _labels(COMPANY_SIZES, size, valid=size_known),
                "industry": _labels(
                    INDUSTRIES, self.industry[rows], valid=self.industry_known[rows]
                ),
                "job_role": _labels(JOB_ROLES, self.role[rows], valid=role_known),
                "has_marketing_consent": pa.array(self.consent[rows]),
                "created_at": self._ts(self.created[rows], offs),
                "converted_at": self._ts(np.where(conv_valid, conv[rows], 0), offs, conv_valid),
                "updated_at": self._ts(upd, offs),
            }
        )
        order = np.lexsort((upd, self.lead_id[rows], np.arange(r) >= n + nd))
        return table.take(pa.array(order))

    def _activities_table(self) -> pa.Table:
        rng, tl, n = self.rng, self.tl, self.n
        a = self.activities
        c, t, typ = a.get("c"), a.get("t"), a.get("typ")
        real = c.shape[0]
        # planted: activities of leads that do not exist, and activities without a lead
        n_orphan = _planted_count(rng, real, ORPHAN_LEAD_ACTIVITY_RATE)
        n_null = _planted_count(rng, real, NULL_LEAD_ACTIVITY_LEAD_RATE)
        orphan_ids = self.base_id + n + 1 + rng.integers(0, 1000, n_orphan)
        src = rng.integers(0, max(real, 1), n_null)
        k = n_orphan + n_null
        ids = np.concatenate([self.lead_id[c], orphan_ids, np.zeros(n_null, np.int64)])
        times = np.concatenate(
            [t, _times(rng, np.full(n_orphan, tl.start, np.int64), tl.end),
             t[src] if real else np.full(n_null, tl.start, np.int64)]
        )  # fmt: skip
        kinds = np.concatenate(
            [typ, rng.integers(0, len(LEAD_ACTIVITY_TYPES), n_orphan),
             typ[src] if real else np.zeros(n_null, np.int64)]
        )  # fmt: skip
        opts = np.array([o[2] for o in COUNTRY_OPTIONS], np.int64)
        offs = np.concatenate(
            [self.offset[c], opts[rng.integers(0, opts.shape[0], n_orphan)],
             self.offset[c[src]] if real else np.zeros(n_null, np.int64)]
        )  # fmt: skip
        total = real + k
        if total >= ID_STRIDE:
            raise ValueError("too many rows in one chunk for the id scheme")
        return pa.table(
            {
                "lead_activity_id": pa.array(self.base_id + 1 + np.arange(total, dtype=np.int64)),
                "lead_id": pa.array(ids, mask=np.arange(total) >= real + n_orphan),
                "activity_at": self._ts(times, offs),
                "activity_type": _labels(LEAD_ACTIVITY_TYPES, kinds),
            }
        )


def _run_chunk(task: _ChunkTask) -> _ChunkResult:
    return _ChunkSimulator(task).run()


def _tasks(
    out_dir: Path, customers: int, seed: int, timeline: _Timeline, chunk_size: int,
    list_price: np.ndarray, campaign_history: bool,
) -> Iterator[_ChunkTask]:  # fmt: skip
    for ci, first in enumerate(range(0, customers, chunk_size)):
        yield _ChunkTask(
            seed=seed,
            chunk_index=ci,
            first_customer_id=first + 1,
            n=min(chunk_size, customers - first),
            total_customers=customers,
            timeline=timeline,
            out_dir=out_dir,
            list_price=list_price,
            campaign_history=campaign_history,
        )


def generate(
    out_dir: Path,
    customers: int,
    seed: int,
    end_date: date = date(2026, 11, 1),
    months: int = 24,
    truth_dir: Path | None = None,
    chunk_size: int = CHUNK_CUSTOMERS,
    workers: int | None = None,
    campaign_history: bool = True,
) -> GenerationSummary:
    """Write the demo source tables under out_dir and the up-sell, acquisition and uplift
    truth files under truth_dir (campaign_history=False: no campaigns, an empty
    campaign_exposures table)."""
    if customers < 1:
        raise ValueError("customers must be positive")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    out_dir = Path(out_dir)
    truth_dir = out_dir.parent / "truth" if truth_dir is None else Path(truth_dir)
    timeline = _timeline(end_date, months)
    for name in TABLES:
        (out_dir / name).mkdir(parents=True, exist_ok=True)
        for old in (out_dir / name).glob("part-*.parquet"):
            old.unlink()
    truth_dir.mkdir(parents=True, exist_ok=True)
    products, list_price = _products(seed)
    _write_parquet(products, out_dir / "products" / "part-00000.parquet")

    tasks = list(
        _tasks(out_dir, customers, seed, timeline, chunk_size, list_price, campaign_history)
    )
    n_workers = min(len(tasks), workers if workers is not None else min(2, os.cpu_count() or 1))
    counts = dict.fromkeys(TABLES, 0)
    counts["products"] = products.num_rows
    known = upgraded = truth_rows = 0
    psum = 0.0
    leads = converted_leads = lead_known = lead_converted = 0
    lead_psum = 0.0
    truth_path = truth_dir / TRUTH_FILE
    acquisition_truth_path = truth_dir / ACQUISITION_TRUTH_FILE
    uplift_truth_path = truth_dir / UPLIFT_TRUTH_FILE
    exposures: dict[tuple[str, str], int] = {}
    with (
        pq.ParquetWriter(truth_path, TRUTH_SCHEMA, compression=PARQUET_COMPRESSION) as writer,
        pq.ParquetWriter(
            acquisition_truth_path, ACQUISITION_TRUTH_SCHEMA, compression=PARQUET_COMPRESSION
        ) as acquisition_writer,
        pq.ParquetWriter(
            uplift_truth_path, UPLIFT_TRUTH_SCHEMA, compression=PARQUET_COMPRESSION
        ) as uplift_writer,
    ):
        if n_workers <= 1:
            results: Iterator[_ChunkResult] = map(_run_chunk, tasks)
            executor = None
        else:
            executor = ProcessPoolExecutor(n_workers, mp_context=mp.get_context("spawn"))
            results = executor.map(_run_chunk, tasks)
        try:
            for res in results:
                for name, rows in res.row_counts.items():
                    counts[name] += rows
                writer.write_table(res.truth)
                truth_rows += res.truth.num_rows
                known += res.eligible_known
                upgraded += res.upgraded_known
                psum += res.probability_sum
                acquisition_writer.write_table(res.leads.truth)
                leads += res.leads.leads
                converted_leads += res.leads.converted
                lead_known += res.leads.eligible_known
                lead_converted += res.leads.converted_known
                lead_psum += res.leads.probability_sum
                uplift_writer.write_table(res.uplift_truth)
                for row in (
                    res.uplift_truth.group_by(["campaign_id", "experiment_group"])
                    .aggregate([([], "count_all")])
                    .to_pylist()
                ):
                    key = (row["campaign_id"], row["experiment_group"])
                    exposures[key] = exposures.get(key, 0) + row["count_all"]
        finally:
            if executor is not None:
                executor.shutdown()
    return GenerationSummary(
        out_dir=out_dir,
        truth_path=truth_path,
        table_dirs={name: out_dir / name for name in TABLES},
        row_counts=counts,
        customers=customers,
        seed=seed,
        start_date=date.fromisoformat(str(np.datetime64(timeline.start, "s"))[:10]),
        end_date=end_date,
        truth_rows=truth_rows,
        eligible_customer_snapshots=known,
        observed_upsell_rate=upgraded / known if known else float("nan"),
        mean_true_upsell_probability=psum / known if known else float("nan"),
        acquisition_truth_path=acquisition_truth_path,
        leads=leads,
        converted_leads=converted_leads,
        eligible_lead_snapshots=lead_known,
        observed_conversion_rate=lead_converted / lead_known if lead_known else float("nan"),
        mean_true_acquisition_probability=lead_psum / lead_known if lead_known else float("nan"),
        uplift_truth_path=uplift_truth_path,
        exposures=dict(sorted(exposures.items())),
    )
