"""Use cases behind the JSON API: each owns its transaction and its audit entries.

Handlers in gateway.http.api parse, call one of these and render the value it returns; nothing
here knows about HTTP.
"""
