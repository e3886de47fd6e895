"""Every error answer is an RFC 9457 problem: our exceptions, FastAPI's and Starlette's own
(unknown route, wrong method, validation) and a failure nobody foresaw."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from shared.errors import NotFound
from shared.http import errors
from shared.http.problems import PROBLEM_JSON


def _app() -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.get("/things/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, int]:
        if thing_id == 404:
            raise NotFound("thing 404 does not exist")
        if thing_id == 403:
            raise HTTPException(403, "not yours", headers={"X-Why": "owner"})
        if thing_id == 500:
            raise RuntimeError("secret internals")
        return {"id": thing_id}

    return app


def _client() -> TestClient:
    return TestClient(_app(), raise_server_exceptions=False)


def test_our_exceptions_answer_problems_with_the_path() -> None:
    answer = _client().get("/things/404")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "thing 404 does not exist",
        "instance": "/things/404",
    }


def test_framework_errors_are_problems_too() -> None:
    client = _client()
    forbidden = client.get("/things/403")
    assert forbidden.status_code == 403 and forbidden.headers["X-Why"] == "owner"
    assert forbidden.json()["detail"] == "not yours" and forbidden.json()["title"] == "Forbidden"
    unknown = client.get("/nowhere")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM_JSON
    wrong_method = client.delete("/things/1")
    assert wrong_method.status_code == 405 and wrong_method.json()["status"] == 405
    assert "GET" in wrong_method.headers["allow"]


def test_validation_lists_each_field_and_summarises_them() -> None:
    answer = _client().get("/things/abc")
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["errors"][0]["loc"] == ["path", "thing_id"]
    assert problem["detail"].startswith("path.thing_id: ")


def test_an_unforeseen_failure_is_a_problem_that_names_no_internals() -> None:
    answer = _client().get("/things/500")
    assert answer.status_code == 500 and answer.headers["content-type"] == PROBLEM_JSON
    assert "secret" not in answer.text
    assert answer.json()["title"] == "Internal Server Error"
