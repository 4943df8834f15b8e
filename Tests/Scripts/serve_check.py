"""Talks to a running `metarec serve` on 127.0.0.1 for ServeCommandTests (MetaRecCLITests).

    serve_check.py PORT events     post two events of user "cli", then parse GET /metrics with
                                   prometheus_client and check the families the server exports
    serve_check.py PORT support N  expect POST /v1/score for user "cli" to report N support rows
    serve_check.py PORT recommend K  expect POST /v1/recommend for user "cli" (history "1", "2") to
                                   return K items, none of the history, each with both scores

Exits non-zero with a message on the first mismatch.
"""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def call(port, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.status, reply.headers.get("Content-Type", ""), reply.read().decode()


def check(condition, message):
    if not condition:
        sys.exit(message)


def events(port):
    body = {"events": [{"user": "cli", "item_id": "1", "task0": 1, "timestamp": 1700000000},
                       {"user": "cli", "item_id": "2", "task1": 0, "timestamp": 1700000001}]}
    status, _, text = call(port, "POST", "/v1/events", body)
    check(status == 200 and json.loads(text)["appended"] == 2, f"events: {status} {text}")
    status, _, text = call(port, "POST", "/v1/score", {"user": "cli", "candidates": [{"item_id": "3"}]})
    check(status == 200, f"score: {status} {text}")
    status, content_type, text = call(port, "GET", "/metrics")
    check(status == 200 and content_type.startswith("text/plain"), f"metrics: {status} {content_type}")
    families = {f.name: f for f in text_string_to_metric_families(text)}  # raises on a malformed exposition
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    expected = {
        ("metarec_events_appended_total", ()): 2,
        ("metarec_scored_requests_total", ()): 1,
        ("metarec_finetuned_requests_total", ()): 1,
        ("metarec_http_requests_total", (("endpoint", "events"), ("status", "2xx"))): 1,
        ("metarec_support_store_entries", ()): 1,
        ("metarec_http_request_duration_seconds_count", (("endpoint", "score"),)): 1,
    }
    for key, value in expected.items():
        check(samples.get(key) == value, f"{key}: {samples.get(key)} (expected {value})")
    check(families["metarec_http_request_duration_seconds"].type == "histogram", "latency is not a histogram")
    check(families["metarec_support_store_entries"].type == "gauge", "support entries is not a gauge")
    # Hummingbird's MetricsMiddleware, on the same registry through the bootstrapped MetricsSystem.
    check(any(name.startswith("hb_requests") for name, _ in samples), f"no hb_requests: {sorted(families)}")
    print(f"{len(families)} metric families parsed")


def support(port, rows):
    status, _, text = call(port, "POST", "/v1/score", {"user": "cli", "candidates": [{"item_id": "3"}]})
    check(status == 200 and json.loads(text)["support_rows"] == rows, f"score after restart: {status} {text}")


def recommend(port, k):
    status, _, text = call(port, "POST", "/v1/recommend", {"user": "cli", "k": k, "n": 3 * k, "history": ["1", "2"]})
    check(status == 200, f"recommend: {status} {text}")
    items = json.loads(text)["items"]
    check(len(items) == k and not {"1", "2"} & {i["item"] for i in items}, f"recommend items: {text}")
    check(all(isinstance(i["retrieval_score"], float) and i["scores"] for i in items), f"recommend scores: {text}")
    print(f"recommended {[i['item'] for i in items]}")


if __name__ == "__main__":
    port, mode = int(sys.argv[1]), sys.argv[2]
    if mode == "events":
        events(port)
    elif mode == "recommend":
        recommend(port, int(sys.argv[3]))
    else:
        support(port, int(sys.argv[3]))
