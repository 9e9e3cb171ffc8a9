"""Enrollment as the front ends hold it: one object made of the use-case rooms."""

from __future__ import annotations

from padlock.ca.enrollment.documents import EnrollmentDocuments
from padlock.ca.enrollment.review import EnrollmentReview
from padlock.ca.enrollment.submit import EnrollmentSubmission
from padlock.ca.enrollment.validate import EnrollmentValidation


class EnrollmentService(
    EnrollmentSubmission, EnrollmentValidation, EnrollmentDocuments, EnrollmentReview
):
    """The use cases of enrollment and review (see ``padlock.ca.enrollment`` for the API).

    Each base is one room (``submit``, ``validate``, ``documents``, ``review``; the last
    three issue through ``issuing``), all over
    :class:`~padlock.ca.enrollment.core.EnrollmentCore`, which is made with the parts
    (store, certificates, issuer, VA settings, documents folder, base URL, notifier).
    """
