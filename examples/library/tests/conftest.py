from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from app.models import Author, Base, Book

if TYPE_CHECKING:
    from collections.abc import Iterator
from sqlalchemy.orm import Session


@pytest.fixture
def session() -> Iterator[Session]:
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        for i in range(5):
            author = Author(name=f"author {i}")
            author.books = [Book(title=f"book {i}.{j}", year=1990 + j) for j in range(3)]
            session.add(author)
        session.commit()
        yield session
    engine.dispose()
