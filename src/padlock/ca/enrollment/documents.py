"""ov documents: uploaded by the applicant (stored outside any web root), read by reviewers."""

from __future__ import annotations

import hashlib
import secrets

from padlock.ca.enrollment.checks import (
    random_id,
    safe_filename,
    sniff_document,
)
from padlock.ca.enrollment.core import EnrollmentCore
from padlock.ca.enrollment.model import (
    MAX_DOCUMENT_BYTES,
    MAX_DOCUMENTS,
    OPEN_STATES,
    Document,
    Event,
    Kind,
)
from padlock.errors import (
    Conflict,
    Malformed,
    NotFound,
    PayloadTooLarge,
    PolicyError,
)
from padlock.fileio import read_bytes, write_atomic


class EnrollmentDocuments(EnrollmentCore):
    """``add_document`` and ``document``."""

    def add_document(
        self, request_id: str, filename: str, content: bytes, actor: str = "applicant"
    ) -> Document:
        """Store an ov document outside any web root; its name is kept as metadata only."""
        request = self._load(request_id)
        if request.kind is not Kind.OV:
            raise PolicyError(
                f"Documents are for ov requests; this is a {request.kind.value} request."
            )
        if request.state not in OPEN_STATES:
            raise Conflict(
                f"The request is {request.state.value.replace('_', ' ')}; documents can no"
                " longer be added."
            )
        clean_name = safe_filename(filename)
        if len(content) > MAX_DOCUMENT_BYTES:
            raise PayloadTooLarge(
                f"The document is {len(content)} bytes; at most"
                f" {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB are accepted.",
                hint="Scan at a lower resolution or split it into several files.",
            )
        if not content:
            raise Malformed("The document is empty.")
        media_type = sniff_document(content)
        now = self._clock()
        doc = Document(
            id=random_id(16),
            filename=clean_name,
            content_type=media_type,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            uploaded_at=now,
        )
        stored_as = secrets.token_hex(16)
        directory = self._documents / request_id
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / stored_as
        write_atomic(path, content, mode=0o600)
        try:
            self._store.add_document(
                request_id,
                doc,
                stored_as,
                Event(
                    "document",
                    actor,
                    None,
                    f"{clean_name} ({media_type}, {len(content)} bytes)",
                    {"document": doc.id, "sha256": doc.sha256},
                ),
                now,
                expect=OPEN_STATES,
                max_documents=MAX_DOCUMENTS,
            )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return doc

    def document(self, request_id: str, document_id: str) -> tuple[Document, bytes]:
        self._load(request_id)
        found = self._store.get_document(request_id, document_id)
        if found is None:
            raise NotFound("There is no such document in this request.")
        doc, stored_as = found
        content = read_bytes(
            self._documents / request_id / stored_as, "document", limit=MAX_DOCUMENT_BYTES
        )
        return doc, content
