"""What the web layer calls."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from app.models import Author, Book


def catalogue(session: Session) -> list[dict[str, object]]:
    """Every author with the titles of their books: an N+1 (one query per author)."""
    authors = session.scalars(sa.select(Author).order_by(Author.name)).all()
    return [{"author": a.name, "titles": [b.title for b in a.books]} for a in authors]


def catalogue_fixed(session: Session) -> list[dict[str, object]]:
    """The same, in two queries whatever the number of authors."""
    stmt = sa.select(Author).options(selectinload(Author.books)).order_by(Author.name)
    return [{"author": a.name, "titles": [b.title for b in a.books]} for a in session.scalars(stmt)]


def books_of_year(session: Session, year: int) -> list[str]:
    """Titles published in ``year``: no index serves ``book.year``."""
    stmt = sa.select(Book.title).where(Book.year == year).order_by(Book.title)
    return list(session.scalars(stmt))
