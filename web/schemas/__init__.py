"""The JSON API's shapes as pydantic models, one module a job: `query_strings.py` (what a GET
takes after "?"), `request_bodies.py` (what a POST takes; the webhook's body and headers, for
the document), `answers.py` (what the routes answer) and `refusals.py` (how a refused query
string or body is told, the rule both kinds of request share).

quart-schema validates requests against them and builds /openapi.json from them, so the
document and the code cannot drift apart.
"""
