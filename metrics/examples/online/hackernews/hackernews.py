"""The scores of Hacker News' current top 10 stories (Firebase API): min, max, mean, total."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fetch import base_url, emit, get_json  # noqa: E402

TOP_N = 10

api = base_url("https://hacker-news.firebaseio.com/v0")
ids = get_json(f"{api}/topstories.json")[:TOP_N]
scores = [get_json(f"{api}/item/{i}.json").get("score") for i in ids]
scores = [s for s in scores if isinstance(s, (int, float))]
if not scores:
    sys.exit("no scores in the top stories")
emit(f"hn_top_{TOP_N}_min_score", min(scores))
emit(f"hn_top_{TOP_N}_max_score", max(scores))
emit(f"hn_top_{TOP_N}_avg_score", round(sum(scores) / len(scores), 2))
emit(f"hn_top_{TOP_N}_total_score", sum(scores))
