from __future__ import annotations

import pytest
from app.views import books_of_year, catalogue, catalogue_fixed


@pytest.mark.backendperf(max_queries=2)
def test_catalogue(session):
    # fails: 1 query for the authors, then 1 per author for their books
    assert len(catalogue(session)) == 5


@pytest.mark.backendperf(max_queries=2)
def test_catalogue_fixed(session):
    assert len(catalogue_fixed(session)) == 5


def test_books_of_year(session, backendperf_assert_num_queries):
    with backendperf_assert_num_queries(1, table="book"):
        assert len(books_of_year(session, 1991)) == 5


def test_catalogue_counts(session, backendperf_queries):
    catalogue_fixed(session)
    assert backendperf_queries.count == 2
    assert backendperf_queries.filter(table="book").count == 1
