"""The scores of Hacker News' current top 10 stories (Firebase API): min, max, mean, total."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fetch import base_url, emit, get_json  # noqa: E402

TOP_N = 10

api = base_url("https://hacker-news.firebaseio.com/v0")
# A story can vanish between the two calls (its item is then null): read on down the list
# until ten scores are in, so the metrics always mean the same thing.
scores = []
for story in (get_json(f"{api}/topstories.json") or [])[: TOP_N * 3]:
    score = (get_json(f"{api}/item/{story}.json") or {}).get("score")
    if isinstance(score, (int, float)):
        scores.append(score)
    if len(scores) == TOP_N:
        break
if len(scores) < TOP_N:
    sys.exit(f"only {len(scores)} scores among the top stories")
emit(f"hn_top_{TOP_N}_min_score", min(scores))
emit(f"hn_top_{TOP_N}_max_score", max(scores))
emit(f"hn_top_{TOP_N}_avg_score", round(sum(scores) / len(scores), 2))
emit(f"hn_top_{TOP_N}_total_score", sum(scores))
