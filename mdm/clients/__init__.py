"""API clients: who may call the HTTP API, with which scopes, on behalf of which source.

A client authenticates with OAuth2 client credentials and receives a short-lived signed token;
its secret is stored only as a hash. A client bound to a source system (a partner) writes only
that source and sees only the golden records that carry one of its records.
"""
