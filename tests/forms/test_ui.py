"""The forms' staff screens: the builder in the settings, the answers list with its CSV, and the
answers on the contact page; and a web chat visitor answering as themselves."""

from __future__ import annotations

import csv
import io

import httpx

from madoguchi.channels import service as channels
from madoguchi.contacts import service as contacts
from madoguchi.crm import fields, tags
from madoguchi.forms import service as forms
from madoguchi.kit.context import Ctx
from tests.fixtures import Factory
from tests.ui.conftest import HTML, HTMX, sign_in


async def test_an_owner_builds_a_form_in_the_settings_and_reads_its_answers(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory
) -> None:
    await fields.create_field(ctx, key="visits", label="来店回数", type="number")
    vip = await tags.create_tag(ctx, actor=None, name="メルマガ同意")
    await sign_in(client, await factory.member(role="owner", name="店長"))
    page = await client.get("/settings/forms", headers=HTML)
    assert page.status_code == 200
    assert "アンケートはまだありません。" in page.text
    assert 'href="/settings/forms"' in page.text  # the nav entry under ワークスペース
    assert "来店回数: 友だち情報" in page.text and "メルマガ同意: タグを付ける" in page.text

    rows = {
        "key": ["name", "visits", "", ""],
        "label": ["お名前", "来店回数", "お知らせを受け取る", ""],
        "type": ["text", "number", "consent", "text"],
        "choices": ["", "", "", ""],
        "required": ["yes", "no", "no", "no"],
        "maps_to": ["name", "field:visits", f"tag:{vip.id}", ""],
    }
    added = await client.post(
        "/settings/forms", data={"name": "ご来店アンケート", **rows}, headers=HTMX
    )
    assert added.status_code == 200, added.text
    assert "アンケート「ご来店アンケート」を追加しました。" in added.text
    [form] = (await client.get("/api/v1/forms")).json()["items"]
    assert [(q["key"], q["type"], q["required"], q["maps_to"]) for q in form["fields"]] == [
        ("name", "text", True, "name"),
        ("visits", "number", False, "field:visits"),
        ("q3", "consent", False, f"tag:{vip.id}"),  # a key left blank is made
    ]
    assert form["url"] in added.text

    refused = await client.post(
        "/settings/forms",
        data={
            "name": "選択肢なし",
            "key": ["menu"],
            "label": ["メニュー"],
            "type": ["choice"],
            "choices": [""],
            "required": ["no"],
            "maps_to": [""],
        },
        headers=HTMX,
    )
    assert refused.status_code == 422
    assert "メニュー: 選択式の質問には選択肢を入力してください。" in refused.text
    assert 'value="選択肢なし"' in refused.text  # what was typed stays
    assert len((await client.get("/api/v1/forms")).json()["items"]) == 1

    public = form["url"].removeprefix("http://testserver")
    await client.post(public, data={"name": "=1+2", "visits": "3", "q3": "on"})
    answers = await client.get(f"/settings/forms/{form['id']}/answers", headers=HTML)
    assert answers.status_code == 200
    assert "「ご来店アンケート」の回答" in answers.text
    assert "=1+2" in answers.text and "はい" in answers.text
    download = await client.get(f"/settings/forms/{form['id']}/answers.csv")
    assert download.headers["content-type"].startswith("text/csv")
    rows_read = list(csv.reader(io.StringIO(download.text.lstrip("\ufeff"))))
    assert rows_read[1][3:] == ["'=1+2", "3", "はい"]

    closed = await client.post(
        f"/settings/forms/{form['id']}/update",
        data={"name": "ご来店アンケート", "closed": "1", **rows},
        headers=HTMX,
    )
    assert closed.status_code == 200 and "保存しました" in closed.text
    assert (await client.get(public)).status_code == 404
    deleted = await client.post(
        f"/settings/forms/{form['id']}/delete", data={"name": "ご来店アンケート"}, headers=HTMX
    )
    assert deleted.status_code == 200
    assert (await client.get("/api/v1/forms")).json()["items"] == []


async def test_an_agent_cannot_open_the_forms_settings(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await sign_in(client, await factory.member(role="agent"))
    assert (await client.get("/settings/forms", headers=HTML)).status_code == 403


async def test_the_contact_page_shows_their_answers_and_their_own_form_links(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory
) -> None:
    await fields.create_field(ctx, key="visits", label="来店回数", type="number")
    form = await forms.create_form(
        ctx,
        name="ご来店アンケート",
        fields=[
            {"key": "menu", "label": "ご希望メニュー", "type": "choice", "choices": ["カット"]},
            {"key": "visits", "label": "来店回数", "type": "number", "maps_to": "field:visits"},
        ],
    )
    contact = await contacts.create_contact(ctx, display_name="佐藤 美咲")
    link = await forms.contact_link(ctx, form_id=form.id, contact_id=contact.id)
    await forms.answer_form(
        ctx,
        form_id=form.id,
        given={"menu": "カット", "visits": "4"},
        identity=forms.Identity(signed=link.partition("?k=")[2]),
    )
    await sign_in(client, await factory.member(role="agent"))
    page = await client.get(f"/contacts/{contact.id}", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert "アンケートの回答" in text
    assert "ご希望メニュー" in text and "カット" in text
    assert "このお客様用のアンケートリンク" in text
    assert f'value="{link}"' in text


async def test_a_web_chat_visitor_answers_as_themselves(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory
) -> None:
    site = "https://salon.example.jp"
    web = await channels.create_channel(
        ctx, kind="web", name="Webチャット", settings={"allowed_origins": site}
    )
    started = await client.post(f"/widget/{web.id}/session", json={}, headers={"Origin": site})
    token = started.json()["visitor_token"]
    sent = await client.post(
        f"/widget/{web.id}/messages",
        json={"text": "予約できますか", "client_id": "c-000001"},
        headers={"Origin": site, "X-Visitor-Token": token},
    )
    assert sent.status_code == 201
    form = await forms.create_form(
        ctx, name="予約アンケート", fields=[{"key": "when", "label": "ご希望日", "type": "date"}]
    )
    answered = await client.post(f"/f/{form.id}", params={"v": token}, data={"when": "2026-12-24"})
    assert answered.status_code == 303
    [answer] = (await forms.list_answers(ctx.db, form_id=form.id)).answers
    assert answer[1].channel_id == web.id
    forged = token[:-2] + ("00" if not token.endswith("00") else "11")
    assert (await client.get(f"/f/{form.id}", params={"v": forged})).status_code == 404


async def test_the_answers_fragments_live_updates_fetch_and_the_form_link_placeholders_shown(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory
) -> None:
    form = await forms.create_form(
        ctx,
        name="ご来店アンケート",
        fields=[{"key": "visits", "label": "来店回数", "type": "number"}],
    )
    customer = await contacts.create_contact(ctx, display_name="佐藤 美咲")
    form_id, customer_id = form.id, customer.id
    await forms.answer_form(
        ctx,
        form_id=form_id,
        given={"visits": "4"},
        identity=forms.Identity(
            signed=(
                await forms.contact_link(ctx, form_id=form_id, contact_id=customer_id)
            ).partition("?k=")[2]
        ),
    )
    await sign_in(client, await factory.member(role="owner", name="店長"))
    page = await client.get(f"/settings/forms/{form_id}/answers", headers=HTML)
    assert f'data-live-answers="form:{form_id}"' in page.text
    older = await client.get(f"/settings/forms/{form_id}/answers?before=1", headers=HTML)
    assert "data-live-answers" not in older.text  # an older page stays as it is
    fragment = await client.get(f"/settings/forms/{form_id}/answers/list", headers=HTMX)
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section class="card set-list-card"')
    assert "佐藤 美咲" in fragment.text and "<html" not in fragment.text

    contact_page = await client.get(f"/contacts/{customer_id}", headers=HTML)
    assert f'data-live-answers="contact:{customer_id}"' in contact_page.text
    card = await client.get(f"/ui/contacts/{customer_id}/form-answers", headers=HTMX)
    assert card.status_code == 200 and 'id="contact-form-answers"' in card.text
    assert "ご来店アンケート" in card.text and "<html" not in card.text
    gone = await client.get(f"/ui/contacts/{customer_id + 100}/form-answers", headers=HTMX)
    assert gone.status_code == 404

    placeholder = "{{form:%s}}" % form_id  # noqa: UP031 - the braces are the placeholder's own
    templates_page = await client.get("/settings/templates", headers=HTML)
    assert f'data-insert="{placeholder}"' in templates_page.text
    assert "アンケート「ご来店アンケート」のお客様専用リンク" in templates_page.text
    forms_page = await client.get("/settings/forms", headers=HTML)
    assert f"テンプレートや一斉配信に {placeholder} と書くと" in forms_page.text

    await sign_in(client, await factory.member(role="agent", name="スタッフ"))
    refused = await client.get(f"/settings/forms/{form_id}/answers/list", headers=HTMX)
    assert "佐藤 美咲" not in refused.text
