"""The ACME conformance kit (``padlock conformance DIRECTORY_URL``): real clients driven
against any ACME server, and padlock's own RFC 8555 protocol checks. It reaches the server
under test over HTTP only (an import contract says so), like ``site/``."""
