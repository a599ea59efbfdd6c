"""Stars, forks, open issues, watchers and size of a few GitHub repositories (REST API),
named github.<owner>.<repo>.<field> as in the original example. Set GITHUB_TOKEN (passed to
anomstack's environment) for the higher rate limit; without it GitHub allows 60 calls an hour."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fetch import base_url, emit, get_json  # noqa: E402

REPOS = [
    "andrewm4894/anomstack",
    "netdata/netdata",
    "apache/spark",
    "apache/airflow",
    "scikit-learn/scikit-learn",
]
FIELDS = {
    "stargazers_count": "stargazers",
    "forks_count": "forks",
    "open_issues_count": "open_issues",
    "subscribers_count": "subscribers",
    "size": "size",
}

api = base_url("https://api.github.com")
headers = {"Accept": "application/vnd.github+json"}
token = os.environ.get("GITHUB_TOKEN")
if token:
    headers["Authorization"] = f"Bearer {token}"
for repo in REPOS:
    owner, name = repo.split("/")
    answer = get_json(f"{api}/repos/{repo}", headers) or {}
    for field, label in FIELDS.items():
        emit(f"github.{owner}.{name}.{label}", answer.get(field))
