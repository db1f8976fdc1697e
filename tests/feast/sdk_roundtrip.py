"""Feast 0.67's own Python SDK against a running wafer: a `remote` online
store pointed at wafer's URL, then the calls a Feast user makes —
write_to_online_store, push to the online store, get_online_features by
feature names and by feature service (with the views' version metadata),
and a view keyed by two entities (driver × city).
Run by tests/feast.rs (slow tier) as: python3 sdk_roundtrip.py URL REPO_DIR TOKEN.
Prints one JSON object: what the SDK read back, by names under
"features", by service under "service", by driver × city under "by_pair",
the versions it was told, and
wafer's rows counters from GET /metrics, read by Prometheus' own strict
OpenMetrics parser (prometheus_client comes with Feast)."""

import json
import sys
import urllib.request
from datetime import datetime, timedelta

import pandas as pd
from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, PushSource, RepoConfig
from feast.data_source import PushMode
from feast.types import Array, Float32, Int64, String

url, repo, token = sys.argv[1], sys.argv[2], sys.argv[3]

config = RepoConfig(
    project="tiny",
    registry=f"{repo}/registry.db",
    provider="local",
    online_store={"type": "remote", "path": url},
    # Feast's way to send a static bearer token: wafer's write token.
    auth={"type": "kubernetes", "user_token": token},
    entity_key_serialization_version=3,
)
store = FeatureStore(config=config)

# The offline source must exist for `apply` to read its schema; wafer never reads it.
now = datetime.utcnow().replace(microsecond=0)
pd.DataFrame(
    {"driver_id": [0], "conv_rate": [0.0], "trips": [0], "city": [""], "event_timestamp": [now], "created": [now]}
).to_parquet(f"{repo}/driver_stats.parquet")

pd.DataFrame(
    {"driver_id": [0], "city_id": [""], "trips_in_city": [0], "hours": [[0]], "event_timestamp": [now], "created": [now]}
).to_parquet(f"{repo}/driver_city.parquet")

driver = Entity(name="driver", join_keys=["driver_id"])
city = Entity(name="city", join_keys=["city_id"])
source = FileSource(path=f"{repo}/driver_stats.parquet", timestamp_field="event_timestamp")
push_source = PushSource(name="driver_push", batch_source=source)
schema = [Field(name="conv_rate", dtype=Float32), Field(name="trips", dtype=Int64), Field(name="city", dtype=String)]
stats = FeatureView(name="driver_stats", entities=[driver], schema=schema, source=source, ttl=timedelta(days=1))
pushed = FeatureView(name="driver_stats_push", entities=[driver], schema=schema, source=push_source, ttl=timedelta(days=1))
service = FeatureService(name="driver_svc", features=[stats[["conv_rate", "trips"]], pushed])
# Keyed by two entities, as Feast's own driver × city example.
driver_city = FeatureView(
    name="driver_city",
    entities=[driver, city],
    schema=[Field(name="trips_in_city", dtype=Int64), Field(name="hours", dtype=Array(Int64))],
    source=FileSource(path=f"{repo}/driver_city.parquet", timestamp_field="event_timestamp"),
    ttl=timedelta(days=1),
)
store.apply([driver, city, stats, pushed, service, driver_city])
store.write_to_online_store(
    "driver_city",
    pd.DataFrame(
        {
            "driver_id": [1001, 1001, 1002],
            "city_id": ["HZ", "OS", "HZ"],
            "trips_in_city": [5, 2, 8],
            "hours": [[7, 8], [12], [23]],
            "event_timestamp": [now, now, now],
            "created": [now, now, now],
        }
    ),
)
by_pair = store.get_online_features(
    features=["driver_city:trips_in_city", "driver_city:hours"],
    entity_rows=[
        {"driver_id": 1001, "city_id": "OS"},
        {"driver_id": 1002, "city_id": "HZ"},
        {"driver_id": 1002, "city_id": "OS"},
        {"driver_id": 1001, "city_id": "HZ"},
    ],
).to_dict()

store.write_to_online_store(
    "driver_stats",
    pd.DataFrame(
        {
            "driver_id": [1001, 1002],
            "conv_rate": [0.5, 0.25],
            "trips": [7, 3],
            "city": ["Hangzhou", "Oslo"],
            "event_timestamp": [now, now],
            "created": [now, now],
        }
    ),
)
store.push(
    "driver_push",
    pd.DataFrame({"driver_id": [1003], "conv_rate": [0.75], "trips": [9], "city": ["Lima"], "event_timestamp": [now], "created": [now]}),
    to=PushMode.ONLINE,
)
got = store.get_online_features(
    features=["driver_stats:conv_rate", "driver_stats:trips", "driver_stats:city", "driver_stats_push:conv_rate"],
    entity_rows=[{"driver_id": 1001}, {"driver_id": 1002}, {"driver_id": 1003}, {"driver_id": 9999}],
    full_feature_names=True,
).to_dict()
by_service = store.get_online_features(
    features=store.get_feature_service("driver_svc"),
    entity_rows=[{"driver_id": 1001}, {"driver_id": 1003}],
    full_feature_names=True,
    include_feature_view_version_metadata=True,
)
versions = [{"name": m.name, "version": m.version} for m in by_service.proto.metadata.feature_view_metadata]
from prometheus_client.openmetrics.parser import text_string_to_metric_families

scraped = urllib.request.urlopen(f"{url}/metrics").read().decode()
rows = {}
for family in text_string_to_metric_families(scraped):
    for s in family.samples:
        if s.name == "wafer_rows_total":
            rows[f"{s.labels['view']} {s.labels['outcome']}"] = s.value
result = {"features": got, "service": by_service.to_dict(), "versions": versions, "rows": rows, "by_pair": by_pair}
print(json.dumps(result, default=str))
