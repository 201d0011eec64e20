"""The salon demo's script (data only): its conversations, and what the salon keeps about
each customer and in its settings. ``loader`` turns it into rows."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

from madoguchi.channels.models import ChannelKind


@dataclass(frozen=True)
class Script:
    """One demo conversation, its first message ``days_ago`` at ``start`` (Japan time).

    Each of ``lines`` is ``WHO MINUTES TEXT``: WHO is ``c`` (the customer), ``r:<member>`` (a
    reply) or ``n:<member>`` (an internal note); MINUTES after the previous line (staff answer in
    salon hours). An indented line continues the text (Japanese needs no space); ``\\n`` is a
    line break.
    """

    kind: str
    channel_name: str
    display_name: str | None
    days_ago: int
    start: str
    lines: str
    read: bool = True
    assignee: str | None = None

    @property
    def name(self) -> str:
        """How the inbox names them: the display name, else the channel's name."""
        return self.display_name or self.channel_name

    def steps(self) -> list[tuple[str, int, str]]:
        steps: list[tuple[str, int, str]] = []
        for line in textwrap.dedent(self.lines).strip().splitlines():
            if line.startswith(" "):
                who, delay, body = steps[-1]
                steps[-1] = (who, delay, body + line.strip())
                continue
            who, minutes, body = line.split(" ", 2)
            steps.append((who, int(minutes), body))
        return [(who, delay, body.replace("\\n", "\n")) for who, delay, body in steps]


SCRIPTS: tuple[Script, ...] = (
    Script(
        ChannelKind.line,
        "ようこ🌷",
        "【美咲】田中 陽子",
        days_ago=6,
        start="21:40",
        assignee="misaki",
        lines=r"""
        c 0 こんばんは！来週の土曜日って空いてますか？カットとカラーお願いしたいです
        r:misaki 30 田中様、いつもありがとうございます。美咲です。来週土曜日ですと、
            11:00〜か15:30〜がご案内可能です。いかがでしょうか？
        c 40 11時でお願いします！
        r:misaki 12 承知いたしました。土曜日11:00〜、カット＋カラーでご予約お取りしました。
            当日お待ちしております！
        c 3 ありがとうございます😊
        """,
    ),
    Script(
        ChannelKind.line,
        "Mai.K",
        "【翔太】木村 麻衣",
        days_ago=2,
        start="08:15",
        assignee="shota",
        lines=r"""
        c 0 おはようございます。明日14時で予約してる木村です。急な仕事が入っちゃって…
            日にち変更できますか？
        r:shota 90 木村様、ご連絡ありがとうございます。翔太です。変更承ります！
            ご希望の日時はございますか？
        c 30 来週の水曜か木曜の夕方だと助かります
        r:shota 15 水曜日は17:00〜、木曜日は18:00〜が空いております。どちらがよろしいでしょうか？
        c 90 木曜の18時でお願いします🙏
        r:shota 5 かしこまりました。木曜日18:00〜に変更いたしました。
            お仕事お忙しい中ご連絡ありがとうございます。
        """,
    ),
    Script(
        ChannelKind.instagram,
        "haru_0312",
        None,
        days_ago=0,
        start="12:30",
        read=False,
        lines=r"""
        c 0 はじめまして！インスタ見てDMしました。
            写真みたいなミルクティーベージュにしたいんですけど、ブリーチなしでもできますか？
        c 2 今は自分で染めた黒っぽい茶色です
        """,
    ),
    Script(
        ChannelKind.line,
        "ゆか",
        "【店長】山本 由香",
        days_ago=4,
        start="20:50",
        assignee="owner",
        lines=r"""
        c 0 昨日カットしてもらったんですけど、左右の長さが少し違う気がします…
        c 1 写真送ったほうがいいですか？
        n:owner 60 昨日の担当は翔太くん。お直しで対応します。私から連絡しますね
        r:owner 8 山本様、店長の中村です。この度はご不便をおかけし申し訳ございません。
            1週間以内でしたら無料でお直しいたしますので、
            ご都合のよい日時をお知らせいただけますか？
        c 45 ありがとうございます。土曜の午前中は空いてますか？
        r:owner 10 土曜日10:30〜でお取りしました。私が担当させていただきます。
            ご来店お待ちしております。
        c 3 よろしくお願いします
        """,
    ),
    Script(
        ChannelKind.web,
        "ゲスト 4821",
        None,
        days_ago=1,
        start="16:20",
        lines=r"""
        c 0 初めて伺うのですが、駅からの行き方を教えてください
        r:misaki 6 お問い合わせありがとうございます。駅の東口を出て、
            右手のコンビニの角を曲がって徒歩3分、1階に花屋さんがあるビルの2階です。
        c 2 駐車場はありますか？
        r:misaki 4 専用駐車場はございませんが、ビル裏のコインパーキングをご利用いただけます。
            ご来店時にお声がけいただければ1時間分のサービス券をお渡ししております。
        c 3 わかりました、ありがとうございます！
        """,
    ),
    Script(
        ChannelKind.email,
        "佐藤 健太",
        None,
        days_ago=9,
        start="22:10",
        assignee="shota",
        lines=r"""
        c 0 ルミエール御中\n\nメンズのカットとパーマの料金を教えていただけますでしょうか。\n\n佐藤
        r:shota 20 佐藤様\n\nお問い合わせありがとうございます。ヘアサロン ルミエールの鈴木です。\n
            メンズカットは4,400円、カット＋パーマは9,900円（税込）です。\n
            ご予約はLINEまたはお電話でも承っております。\n\nヘアサロン ルミエール 鈴木
        c 200 ご回答ありがとうございます。
            では今週金曜の19時からカットとパーマで予約をお願いできますか。
        r:shota 25 佐藤様\n\n金曜日19:00〜、カット＋パーマで承りました。
            所要時間は1時間半ほどです。\nお待ちしております。\n\nヘアサロン ルミエール 鈴木
        """,
    ),
    Script(
        ChannelKind.line,
        "さくら",
        "【美咲】小林 さくら",
        days_ago=3,
        start="19:45",
        assignee="misaki",
        lines=r"""
        c 0 今日はありがとうございました！すごく気に入ってます✨ 友達にも褒められました
        r:misaki 30 小林様、嬉しいお言葉ありがとうございます！美咲です。
            スタイリングでわからないことがあればいつでも聞いてくださいね。
        c 20 はーい！次は2ヶ月後くらいにまたお願いします
        """,
    ),
    Script(
        ChannelKind.instagram,
        "aya.m_hair",
        None,
        days_ago=1,
        start="23:05",
        read=False,
        lines=r"""
        c 0 デジタルパーマとコスメパーマの違いってなんですか？
        r:shota 30 お問い合わせありがとうございます！デジタルパーマは熱を使うので、
            乾かすだけでカールが出やすく持ちが良いのが特徴です。コスメパーマはダメージが少なく、
            柔らかい質感に仕上がります。
        c 30 なるほど！髪が細くて傷みやすいんですけど、どっちがおすすめですか？
        c 1 料金も知りたいです
        """,
    ),
    Script(
        ChannelKind.line,
        "かな",
        "【翔太】伊藤 加奈",
        days_ago=5,
        start="10:40",
        assignee="shota",
        lines=r"""
        c 0 すみません、明後日の予約キャンセルしたいです。子どもが熱を出してしまって
        r:shota 15 伊藤様、ご連絡ありがとうございます。キャンセル承りました。
            お子様お大事になさってください。また落ち着かれたらご連絡お待ちしております。
        """,
    ),
    Script(
        ChannelKind.line,
        "まゆみ",
        "【店長】渡辺 真由美",
        days_ago=12,
        start="18:00",
        assignee="owner",
        lines=r"""
        c 0 ポイントカード今何ポイントたまってますか？
        r:owner 10 渡辺様、いつもありがとうございます。現在8ポイント（ご来店4回分）です。
            10ポイントでトリートメント1回無料になります！
        c 15 あと1回で使えるんですね！楽しみにしてます
        """,
    ),
    Script(
        ChannelKind.api,
        "加藤 美穂",
        None,
        days_ago=0,
        start="09:12",
        read=False,
        lines=r"""
        c 0 【予約フォーム】ご希望日時：今週土曜 13:00／メニュー：カット＋トリートメント／
            ご要望：肩くらいまで切りたいです。初めてです。
        c 4 【予約フォーム】追記：車で伺います。駐車場について教えてください。
        """,
    ),
    Script(
        ChannelKind.line,
        "Rina",
        "【美咲】中島 里奈",
        days_ago=0,
        start="11:05",
        read=False,
        assignee="misaki",
        lines=r"""
        c 0 美咲さんこんにちは！根元のリタッチだけってできますか？
        n:owner 20 @美咲 さん担当でお願いします
        """,
    ),
    Script(
        ChannelKind.line,
        "たけし",
        None,
        days_ago=7,
        start="12:00",
        lines=r"""
        c 0 駐車場ありますか？車で行きたいです
        r:misaki 8 お問い合わせありがとうございます。専用駐車場はございませんが、
            近くのコインパーキングのサービス券をお渡ししています。
        c 5 了解です！
        """,
    ),
    Script(
        ChannelKind.email,
        "高橋 直子",
        None,
        days_ago=15,
        start="14:00",
        lines=r"""
        c 0 5歳の娘のカットもお願いできますか？一緒に私もカットしたいです。
        r:owner 50 高橋様\n\nお問い合わせありがとうございます。お子様カット（小学生以下）
            は2,200円で承っております。お母様とご一緒のご予約も可能です。
            ご希望の日時をお知らせください。\n\nヘアサロン ルミエール 中村
        c 1300 来週日曜日の10時からでお願いします。
        r:owner 40 高橋様\n\n日曜日10:00〜、お二人分お取りしました。
            キッズチェアもご用意しておきます。\n\nヘアサロン ルミエール 中村
        """,
    ),
    Script(
        ChannelKind.instagram,
        "miyu_0728",
        "【翔太】松本 美優",
        days_ago=10,
        start="21:00",
        assignee="shota",
        lines=r"""
        c 0 来月友達の結婚式があるんですけど、ヘアセットってやってますか？
        r:shota 40 やっております！ヘアセットは5,500円で、朝9時からご案内可能です（要予約）。
        c 25 来月の第2土曜の朝9時でお願いできますか？
        r:shota 10 承りました！当日はドレスの写真やイメージ写真があればお持ちください。
        c 2 楽しみにしてます！
        """,
    ),
    Script(
        ChannelKind.line,
        "ちー",
        "【美咲】井上 千尋",
        days_ago=2,
        start="13:30",
        read=False,
        assignee="misaki",
        lines=r"""
        c 0 カラーでかぶれたことがあるんですけど、大丈夫ですか？
        r:misaki 20 ご相談ありがとうございます。頭皮に優しいノンジアミンカラーもございます。
            念のため、ご来店の48時間前にパッチテストをおすすめしています。
        c 10 パッチテストってお店に行けばいいですか？
        r:misaki 7 はい、5分ほどで終わりますので、
            お近くにお越しの際にお立ち寄りください（無料です）。
        c 30 明日の夕方行ってもいいですか？
        """,
    ),
    Script(
        ChannelKind.line,
        "けんじ",
        None,
        days_ago=1,
        start="22:30",
        read=False,
        lines=r"""
        c 0 明日の予約って何時でしたっけ？
        c 2 夕方だった気がするんですけど、確認お願いします🙏
        """,
    ),
    Script(
        ChannelKind.web,
        "ゲスト 7730",
        None,
        days_ago=3,
        start="15:10",
        lines=r"""
        c 0 縮毛矯正っていくらですか？ロングです
        r:shota 5 縮毛矯正はロングで18,700円（カット込み）です。
            髪の状態によって変わることがありますので、カウンセリングの上ご案内いたします。
        c 4 結構かかりますね…考えます
        """,
    ),
    Script(
        ChannelKind.instagram,
        "yuuu_kaa",
        "【店長】森 優花",
        days_ago=8,
        start="20:10",
        assignee="owner",
        lines=r"""
        c 0 前回やってもらったカラーの色名って何でしたっけ？同じのにしたいです
        r:owner 30 森様、前回は「アッシュグレージュ 8レベル」でお染めしております。
            同じお色でご用意しますね。
        c 60 ありがとうございます、じゃあ来週の金曜19時で！
        r:owner 10 金曜日19:00〜承りました。お待ちしております。
        """,
    ),
    Script(
        ChannelKind.line,
        "Natsuki",
        "【翔太】清水 夏希",
        days_ago=0,
        start="08:40",
        read=False,
        assignee="shota",
        lines=r"""
        c 0 おはようございます！今日の15時の予約、30分遅らせてもらうことって可能ですか？
        c 10 電車が遅れてて…すみません
        """,
    ),
    Script(
        ChannelKind.email,
        "山口 隆",
        None,
        days_ago=20,
        start="12:20",
        lines=r"""
        c 0 ギフト券の販売はしていますか？母の誕生日に贈りたいと思っています。\n\n山口
        r:misaki 40 山口様\n\nお問い合わせありがとうございます。
            3,000円・5,000円・10,000円のギフト券を店頭にてご用意しております。
            有効期限は発行から1年です。\n\nヘアサロン ルミエール 佐藤
        c 180 ありがとうございます。週末に伺います。
        """,
    ),
    Script(
        ChannelKind.line,
        "もも",
        "【美咲】斎藤 桃子",
        days_ago=13,
        start="11:50",
        assignee="misaki",
        lines=r"""
        c 0 最近髪がパサパサで…おすすめのトリートメントありますか？
        r:misaki 25 斎藤様、美咲です。酸熱トリートメント（6,600円）がおすすめです！
            ツヤとまとまりが1ヶ月ほど続きます。
        c 15 次のカットの時一緒にお願いします！
        r:misaki 5 かしこまりました、次回のご予約に追加しておきますね。
        n:misaki 2 次回 酸熱トリートメント追加済み。カラーは前回と同じ7レベルのピンクブラウン
        """,
    ),
    Script(
        ChannelKind.line,
        "りょう",
        None,
        days_ago=0,
        start="13:10",
        read=False,
        lines=r"""
        c 0 予約したいです
        r:shota 10 ご連絡ありがとうございます！ご希望の日時とメニューを教えていただけますか？
        c 15 明後日の夕方、メンズカットで。初めてです
        """,
    ),
    Script(
        ChannelKind.instagram,
        "sora.tabi",
        None,
        days_ago=6,
        start="09:30",
        lines=r"""
        c 0 定休日っていつですか？
        r:misaki 40 毎週火曜日が定休日です。営業時間は10:00〜20:00（最終受付はカット19:00、
            カラー・パーマ18:00）です。
        c 3 ありがとうございます！
        """,
    ),
    Script(
        ChannelKind.api,
        "岡田 智子",
        None,
        days_ago=4,
        start="07:55",
        lines=r"""
        c 0 【予約フォーム】ご希望日時：金曜 10:00／メニュー：カラー（白髪染め）／
            ご要望：しみにくいカラー剤でお願いします
        r:owner 30 岡田様、ご予約ありがとうございます。金曜日10:00〜、白髪染めで承りました。
            頭皮にやさしいカラー剤をご用意いたします。
        """,
    ),
    Script(
        ChannelKind.line,
        "ひろみ",
        "【店長】長谷川 裕美",
        days_ago=1,
        start="17:20",
        read=False,
        assignee="owner",
        lines=r"""
        c 0 前髪カットだけでも行っていいですか？
        r:owner 10 もちろんです！前髪カットは1,100円、15分ほどです。
            本日19時まででしたらすぐご案内できます。
        c 20 明日の昼休みに行きたいです。12時半とか空いてますか？
        """,
    ),
    Script(
        ChannelKind.email,
        "Emily Brown",
        "【美咲】エミリー ブラウン",
        days_ago=11,
        start="16:05",
        assignee="misaki",
        lines=r"""
        c 0 Hello, do you have an English-speaking stylist? I'd like a haircut next week.
        r:misaki 35 Hello Emily, thank you for your message. I speak a little English 😊
        r:misaki 1 We have openings next Thursday at 14:00 or 16:00. Which would you prefer?
        c 60 14:00 please! Thank you so much.
        r:misaki 15 Booked for Thursday 14:00. See you then!
        """,
    ),
    Script(
        ChannelKind.line,
        "じゅん",
        "【翔太】前田 純",
        days_ago=0,
        start="10:30",
        read=False,
        assignee="shota",
        lines=r"""
        c 0 先週パーマかけたんですけど、もう取れてきちゃいました…
        c 1 毎朝どうやって乾かせばいいですか？
        n:shota 25 先週のデジパ、薬剤弱めにしてた。かけ直しをご案内します
        """,
    ),
    Script(
        ChannelKind.web,
        "ゲスト 2096",
        None,
        days_ago=2,
        start="18:40",
        lines=r"""
        c 0 クレジットカードやPayPayは使えますか？
        r:misaki 3 各種クレジットカード、PayPay、交通系ICカードがご利用いただけます。
        """,
    ),
    Script(
        ChannelKind.instagram,
        "kotone__",
        "【美咲】藤田 琴音",
        days_ago=16,
        start="19:10",
        assignee="misaki",
        lines=r"""
        c 0 インナーカラー入れたいです！
        r:misaki 15 ありがとうございます！何色をご希望ですか？
        c 10 青か紫で迷ってます
        r:misaki 8 お洋服に合わせやすいのはネイビー系、
            華やかにしたいならラベンダーがおすすめです。
        c 12 ラベンダーにします！ブリーチ必要ですよね？
        r:misaki 6 はい、インナーカラーの部分だけブリーチいたします。
            カット＋インナーカラーで14,300円、所要時間は3時間ほどです。
        c 20 大丈夫です。日曜日空いてますか？
        r:misaki 5 日曜日は10:00〜ご案内可能です。
        c 4 じゃあ10時で！
        r:misaki 3 承りました。当日はお飲み物もご用意してお待ちしております。
        c 2 ありがとうございます😊楽しみ！
        """,
    ),
    Script(
        ChannelKind.line,
        "たかこ",
        "【店長】石井 孝子",
        days_ago=0,
        start="07:30",
        read=False,
        assignee="owner",
        lines=r"""
        c 0 今日の11時の予約、娘も一緒にカットお願いできますか？中学生です
        n:owner 160 @翔太 11時の枠が空いているので、娘さんのカットをお願いできますか？
        """,
    ),
)


# --- the salon's CRM: what it keeps about each customer ---------------------------------------

# Member keys as the salon writes them in tags, fields and records (担当: 店長 / 美咲 / 翔太).
STAFF_LABELS = {"owner": "店長", "misaki": "美咲", "shota": "翔太"}

# Tag folders and their tags (顧客ランク, 髪質診断 results, the stylist in charge, how they came).
TAG_FOLDERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("顧客ランク", ("VIP", "常連", "新規")),
    ("髪質診断", ("くせ毛", "細毛", "乾燥")),
    ("担当", ("店長", "美咲", "翔太")),
    ("来店きっかけ", ("Instagram", "紹介", "ホットペッパー", "ホームページ")),
)

# Profile fields: folder, key, label, type, choices, shown in the chat (表示設定). A customer's
# phone number is not one of them: it is the contact's own 電話番号 (a "tel" below goes there).
FIELDS: tuple[tuple[str, str, str, str, tuple[str, ...], bool], ...] = (
    ("基本情報", "birthday", "生年月日", "date", (), True),
    ("基本情報", "gender", "性別", "select", ("女性", "男性", "その他", "回答しない"), False),
    ("来店情報", "points", "来店ポイント", "number", (), True),
    ("来店情報", "last_visit", "最終来店日", "date", (), True),
    ("来店情報", "stylist", "担当スタイリスト", "select", tuple(STAFF_LABELS.values()), True),
    ("来店情報", "parking", "駐車場利用", "select", ("なし", "あり", "自転車"), False),
    ("施術メモ", "style", "好みのスタイル", "long_text", (), True),
)
# 来店ポイント: two a visit (10 make a free treatment).
POINTS_PER_VISIT = 2

# 施術履歴's menus and their prices (yen, tax included).
RECORD_MENUS = {
    "カット": 4950,
    "カット＋カラー": 11000,
    "カラー": 7150,
    "白髪染め": 6600,
    "パーマ": 8800,
    "デジタルパーマ": 13200,
    "縮毛矯正": 16500,
    "トリートメント": 3300,
    "酸熱トリートメント": 6600,
    "前髪カット": 1100,
    "インナーカラー": 9900,
    "メンズカット": 4400,
    "メンズカット＋パーマ": 9900,
    "キッズカット": 2200,
    "ヘアセット": 5500,
}
TREATMENTS = "施術履歴"
SUPPORT_LOG = "対応記録"
RECORD_BOOKS: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    (
        TREATMENTS,
        [
            {"key": "menu", "label": "メニュー", "type": "select", "options": list(RECORD_MENUS)},
            {
                "key": "staff",
                "label": "担当",
                "type": "select",
                "options": list(STAFF_LABELS.values()),
            },
            {"key": "price", "label": "金額", "type": "number"},
            {"key": "note", "label": "内容", "type": "long_text"},
        ],
    ),
    (SUPPORT_LOG, [{"key": "note", "label": "内容", "type": "long_text"}]),
)

# 問い合わせタグ: name, colour.
CONVERSATION_TAGS = (("予約", "#2563eb"), ("料金", "#16a34a"), ("クレーム", "#dc2626"))

# メッセージフィルター: what the rich menu's buttons send and an auto-reply keyword arrive read.
MESSAGE_FILTERS = (
    ("exact", "メニューを見る"),
    ("exact", "予約する"),
    ("contains", "営業時間"),
)

# セグメント: name, conditions (crm.filters), as the seeds' thank-you and follow-up mails use them.
SEGMENTS: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    (
        "初回来店から2日",
        [{"field": f"record.{TREATMENTS}.oldest_at", "op": "days_ago", "value": 2}],
    ),
    (
        "最終来店から30日",
        [{"field": f"record.{TREATMENTS}.newest_at", "op": "days_ago", "value": 30}],
    ),
    (
        "ご無沙汰（最終来店から60〜120日）",
        [{"field": f"record.{TREATMENTS}.newest_at", "op": "between_days_ago", "value": [60, 120]}],
    ),
    ("VIP", [{"field": "tag", "op": "in", "value": ["VIP"]}]),
)

# ルール: name, when, conditions, actions; members by their demo key, tags and templates by name.
RULES: tuple[tuple[str, str, list[dict[str, Any]], list[dict[str, Any]]], ...] = (
    (
        "キャンセル・変更は店長へ",
        "message.received",
        [{"field": "text", "op": "contains_any", "value": ["キャンセル", "変更"]}],
        [
            {"type": "assign", "member": "owner"},
            {"type": "set_memo", "text": "予約の変更・キャンセル"},
        ],
    ),
    (
        "初めてのお客さまは順番に担当",
        "first_message",
        [],
        [
            {"type": "add_tag", "tag": "新規"},
            {"type": "assign", "round_robin": ["misaki", "shota"]},
        ],
    ),
    (
        "営業時間外の自動返信",
        "conversation.opened",
        [{"field": "time", "op": "between", "value": ["20:00", "10:00"]}],
        [{"type": "send_template", "template": "営業時間"}],
    ),
)

# A recurring broadcast (the seeds' thank-you two days after a first visit, every day at 12:00
# Japan time): segment name, text, cron.
BROADCASTS = (
    (
        "初回来店から2日",
        "{{name}}様、先日はご来店ありがとうございました。"
        "その後、髪の調子はいかがですか？気になることがあれば、お気軽にご連絡ください。",
        "0 12 * * *",
    ),
)

# A step sequence (ステップ配信): when a 施術履歴 record is added, a thank-you two days later and a
# follow-up thirty days after that. Name, record book, [(delay in days, text), ...].
SEQUENCES: tuple[tuple[str, str, tuple[tuple[int, str], ...]], ...] = (
    (
        "初回来店フォロー",
        TREATMENTS,
        (
            (2, "{{name}}様、先日はご来店ありがとうございました。仕上がりはいかがですか？"),
            (
                30,
                "{{name}}様、前回のご来店から1か月になります。"
                "そろそろお手入れの時期ですので、ご予約をお待ちしております。",
            ),
        ),
    ),
)

# アンケート: name, questions (forms.service); ``tag:<name>`` is the demo tag of that name.
FORMS: tuple[tuple[str, list[dict[str, Any]]], ...] = (
    (
        "ご来店前アンケート",
        [
            {"key": "name", "label": "お名前", "type": "text", "required": True, "maps_to": "name"},
            {"key": "tel", "label": "電話番号", "type": "text", "maps_to": "phone"},
            {"key": "birthday", "label": "生年月日", "type": "date", "maps_to": "field:birthday"},
            {
                "key": "parking",
                "label": "駐車場のご利用",
                "type": "choice",
                "choices": ["なし", "あり", "自転車"],
                "maps_to": "field:parking",
            },
            {"key": "request", "label": "ご要望（髪のお悩みなど）", "type": "text"},
            {
                "key": "instagram",
                "label": "Instagramを見てご来店されましたか（当てはまればチェック）",
                "type": "consent",
                "maps_to": "tag:Instagram",
            },
        ],
    ),
)

# Templates: folder, name, text.
TEMPLATES = (
    (
        "予約",
        "予約確認",
        "{name}様\nご予約ありがとうございます。ご予約を承りました。\n"
        "当日はお気をつけてお越しください。変更・キャンセルはこちらのチャットでお気軽にどうぞ。\n"
        "ヘアサロン ルミエール",
    ),
    (
        "お礼・フォロー",
        "来店お礼",
        "{name}様\n先日はご来店ありがとうございました。"
        "ご来店から{days_since_last_visit}日が経ちましたが、その後スタイリングはいかがでしょうか？\n"
        "気になることがあれば、いつでもこちらのチャットでご相談ください。\n{staff}",
    ),
    (
        "ご案内",
        "駐車場案内",
        "専用駐車場はございませんが、ビル裏のコインパーキングをご利用いただけます。"
        "ご来店時にお声がけいただければ、1時間分のサービス券をお渡しいたします。",
    ),
    (
        "ご案内",
        "営業時間",
        "営業時間は10:00〜20:00（最終受付：カット19:00、カラー・パーマ18:00）、"
        "毎週火曜日が定休日です。",
    ),
)
BOOKED_TEMPLATE = "予約確認"
VIP_ACTION = "VIP対応"
BOOKED_ACTION = "予約完了"


@dataclass(frozen=True)
class Visit:
    """A 施術履歴 record ``days_ago`` (at a time of day the salon is open)."""

    days_ago: int
    menu: str
    staff: str
    note: str = ""
    # None: the menu's price.
    price: int | None = None


@dataclass(frozen=True)
class Log:
    """A 対応記録 record, written at the end of that day."""

    days_ago: int
    staff: str
    note: str


@dataclass(frozen=True)
class Customer:
    """What the salon keeps about one demo customer, and what it did with their conversation."""

    status: str | None = None
    mark: str | None = None
    tags: tuple[str, ...] = ()
    # Profile values by field key; 来店ポイント, 最終来店日 and 担当スタイリスト follow from the
    # visits unless given.
    fields: dict[str, str] = field(default_factory=dict)
    # (title, body), in the order they are listed.
    memos: tuple[tuple[str, str], ...] = ()
    visits: tuple[Visit, ...] = ()
    logs: tuple[Log, ...] = ()
    # (mark, the start of the customer's message it goes on).
    message_mark: tuple[str, str] | None = None
    followers: tuple[str, ...] = ()
    # 問い合わせメモ.
    memo: str = ""
    # Closed with these conversation tags.
    closed_with: tuple[str, ...] | None = None
    # Snoozed until tomorrow morning.
    snoozed: bool = False
    # A message scheduled (送信予約) for tomorrow morning.
    scheduled: str | None = None
    # Who closes, snoozes, schedules and writes memos: the assignee when not given, else the owner.
    by: str | None = None


# By the script's name (its display name, else its channel name).
CUSTOMERS: dict[str, Customer] = {
    "【美咲】田中 陽子": Customer(
        status="完了",
        tags=("常連", "くせ毛", "美咲", "紹介"),
        fields={
            "birthday": "1988-04-12",
            "tel": "090-1234-5678",
            "gender": "女性",
            "parking": "なし",
            "style": "肩上のボブ。乾かすだけでまとまるように。",
        },
        memos=(("好み", "前髪は眉上。耳にかけられる長さは残す。"),),
        visits=(
            Visit(
                165,
                "カット＋カラー",
                "misaki",
                "ミルクティーベージュ 9レベル。後頭部のくせが強いので量は少なめに",
            ),
            Visit(108, "カット", "misaki", "肩上のボブに。前髪は眉上"),
            Visit(52, "カット＋カラー", "misaki", "アッシュベージュ 8レベル。次回も同系色で"),
        ),
        scheduled="田中様、美咲です。土曜日11:00〜のカット＋カラーのご予約、お待ちしております。"
        "ご不明な点があればお気軽にご連絡ください😊",
    ),
    "【翔太】木村 麻衣": Customer(
        status="完了",
        tags=("常連", "細毛", "翔太", "ホットペッパー"),
        fields={
            "birthday": "1992-11-03",
            "gender": "女性",
            "parking": "なし",
            "style": "ゆるめのレイヤー。トップにボリュームがほしい。",
        },
        visits=(
            Visit(133, "デジタルパーマ", "shota", "細毛のため薬剤は弱め、ロッドは大きめ"),
            Visit(68, "カット", "shota", "レイヤーを入れてトップにボリューム"),
        ),
        logs=(Log(2, "shota", "LINEで予約変更のご連絡。明日14時 → 木曜18時に変更"),),
    ),
    "haru_0312": Customer(status="未対応", tags=("新規", "Instagram")),
    "【店長】山本 由香": Customer(
        status="対応中",
        mark="クレーム",
        tags=("常連", "乾燥", "店長", "紹介"),
        fields={
            "birthday": "1985-07-21",
            "tel": "080-2345-6789",
            "gender": "女性",
            "parking": "自転車",
            "stylist": "店長",
            "style": "ワンレンのロングボブ。乾燥しやすいので毎回トリートメント。",
        },
        memos=(
            ("お直し", "左右の長さの差でご連絡あり（前回担当：翔太）。お直しは店長が担当、無料。"),
        ),
        visits=(
            Visit(
                201,
                "カット＋カラー",
                "owner",
                "ダークブラウン 6レベル。毛先の乾燥にトリートメントをおすすめ",
            ),
            Visit(96, "カット", "owner"),
            Visit(5, "カット", "shota", "ロングボブ。毛先を軽く"),
        ),
        logs=(
            Log(
                4,
                "owner",
                "カット後の左右差についてLINEでご連絡。店長がお直し（無料）、土曜10:30で予約",
            ),
        ),
        followers=("shota",),
        memo="お直し：土曜10:30〜 店長担当（無料）",
    ),
    "ゲスト 4821": Customer(status="完了", tags=("新規", "ホームページ")),
    "佐藤 健太": Customer(
        status="完了",
        tags=("新規", "翔太", "ホームページ"),
        fields={"tel": "090-3456-7890", "gender": "男性", "parking": "なし"},
        visits=(
            Visit(6, "メンズカット＋パーマ", "shota", "初来店。ツーブロック＋ニュアンスパーマ"),
        ),
        closed_with=("予約", "料金"),
        memo="メンズカット＋パーマ（9,900円）のお問い合わせ。金曜19時でご予約。",
    ),
    "【美咲】小林 さくら": Customer(
        status="完了",
        tags=("常連", "美咲", "Instagram"),
        fields={
            "birthday": "1999-02-14",
            "gender": "女性",
            "parking": "自転車",
            "style": "ハイライト多めの明るめカラー。レイヤー多め。",
        },
        visits=(
            Visit(134, "カット＋カラー", "misaki", "ラベンダーグレー"),
            Visit(66, "カット", "misaki"),
            Visit(
                3, "カット＋カラー", "misaki", "ハイライト＋ラベンダーグレー。次回は2ヶ月後の予定"
            ),
        ),
    ),
    "aya.m_hair": Customer(status="未対応", mark="質問(中)", tags=("新規", "細毛", "Instagram")),
    "【翔太】伊藤 加奈": Customer(
        status="完了",
        tags=("常連", "翔太"),
        fields={
            "birthday": "1987-09-30",
            "gender": "女性",
            "parking": "あり",
            "style": "肩につかない長さ。家事の邪魔にならないように。",
        },
        visits=(
            Visit(97, "カット", "shota"),
            Visit(41, "カット＋カラー", "shota", "白髪ぼかしのベージュ 7レベル"),
        ),
        logs=(Log(5, "shota", "お子様の発熱で予約キャンセル（キャンセル料なし）"),),
        closed_with=("予約",),
        memo="お子様の発熱でキャンセル。落ち着いたら再予約のご連絡をいただく予定。",
    ),
    "【店長】渡辺 真由美": Customer(
        status="完了",
        tags=("VIP", "乾燥", "店長", "紹介"),
        fields={
            "birthday": "1975-05-05",
            "tel": "090-4567-8901",
            "gender": "女性",
            "parking": "あり",
            "style": "白髪ぼかしのハイライト。トップはふんわり。",
        },
        memos=(
            ("ポイント", "10ポイントでトリートメント1回無料。次回のご来店で達成。"),
            ("駐車場", "車で来店。ビル裏のコインパーキング、サービス券1時間分をお渡し。"),
        ),
        visits=(
            Visit(188, "白髪染め", "owner"),
            Visit(131, "カット＋カラー", "owner"),
            Visit(76, "白髪染め", "owner"),
            Visit(20, "カット＋カラー", "owner", "ハイライトで白髪ぼかし。次回で10ポイント"),
        ),
        logs=(Log(12, "owner", "ポイント残高のお問い合わせ（LINE）。現在8ポイント"),),
    ),
    "加藤 美穂": Customer(
        status="未対応",
        tags=("新規", "ホームページ"),
        fields={"gender": "女性", "parking": "あり"},
        memos=(("駐車場", "車で来店予定。コインパーキングのご案内が必要。"),),
    ),
    "【美咲】中島 里奈": Customer(
        status="未対応",
        tags=("常連", "美咲"),
        fields={
            "birthday": "1995-08-08",
            "gender": "女性",
            "style": "グレージュ系。根元が伸びたらリタッチ。",
        },
        visits=(
            Visit(118, "カラー", "misaki", "グレージュ 8レベル"),
            Visit(61, "カット＋カラー", "misaki", "グレージュ 8レベル。根元が伸びたらリタッチ希望"),
        ),
    ),
    # His first visit was two days ago (segments: "first 施術履歴 record 2 days ago").
    "たけし": Customer(
        status="完了",
        tags=("新規", "翔太", "ホットペッパー"),
        fields={"tel": "070-5678-9012", "gender": "男性", "parking": "あり"},
        memos=(
            (
                "駐車場",
                "車で来店（白のワゴン）。ビル裏コインパーキングの2台目に駐車。"
                "サービス券1時間分をお渡し済み。",
            ),
        ),
        visits=(Visit(2, "メンズカット", "shota", "初来店。サイドは刈り上げ、トップは長めに残す"),),
    ),
    "高橋 直子": Customer(
        status="完了",
        tags=("常連", "店長", "紹介"),
        fields={
            "birthday": "1984-03-18",
            "tel": "080-6789-0123",
            "gender": "女性",
            "parking": "あり",
        },
        memos=(("ご家族", "5歳の娘さんと一緒に来店。キッズチェアを用意する。"),),
        visits=(
            Visit(152, "カット", "owner"),
            Visit(9, "カット", "owner", "お嬢様（5歳）のキッズカット 2,200円と一緒に", price=7150),
        ),
    ),
    "【翔太】松本 美優": Customer(
        status="連絡待ち",
        tags=("常連", "翔太", "Instagram"),
        fields={
            "birthday": "1997-07-28",
            "gender": "女性",
            "style": "ゆるふわの巻き髪。結婚式は編み込みのアップで。",
        },
        visits=(Visit(83, "カット＋カラー", "shota"), Visit(27, "カット", "shota")),
    ),
    "【美咲】井上 千尋": Customer(
        status="未対応",
        tags=("常連", "乾燥", "美咲"),
        fields={
            "birthday": "1990-12-01",
            "tel": "090-7890-1234",
            "gender": "女性",
            "parking": "なし",
            "style": "明るめのブラウン（ノンジアミンカラー）。",
        },
        memos=(
            (
                "アレルギー",
                "ジアミンで赤み。ノンジアミンカラーを使用し、施術の48時間前にパッチテスト。",
            ),
            ("好み", "明るめのブラウン。暗くなりすぎない色が好き。"),
        ),
        visits=(
            Visit(
                187,
                "カット＋カラー",
                "misaki",
                "カラー後に頭皮の赤み。以後ノンジアミンカラーで対応",
            ),
            Visit(102, "カット＋カラー", "misaki", "ノンジアミンカラー 8レベル。かゆみなし"),
            Visit(44, "カット", "misaki"),
        ),
        logs=(
            Log(
                186,
                "misaki",
                "カラー後に頭皮の赤みが出たとお電話。皮膚科の受診をおすすめし、"
                "次回からノンジアミンカラーで対応",
            ),
        ),
    ),
    "けんじ": Customer(
        status="未対応",
        tags=("常連", "翔太"),
        fields={"gender": "男性"},
        visits=(Visit(36, "メンズカット", "shota"),),
    ),
    "ゲスト 7730": Customer(
        status="連絡待ち",
        tags=("新規", "くせ毛", "ホームページ"),
        memo="縮毛矯正（ロング 18,700円）をご案内。検討中とのことなので明日フォロー。",
        snoozed=True,
        by="shota",
    ),
    "【店長】森 優花": Customer(
        status="完了",
        tags=("VIP", "店長", "Instagram"),
        fields={
            "birthday": "1993-10-10",
            "gender": "女性",
            "style": "アッシュグレージュ 8レベル。ツヤ重視。",
        },
        visits=(
            Visit(212, "カット＋カラー", "owner"),
            Visit(151, "カラー", "owner"),
            Visit(96, "カット＋カラー", "owner", "アッシュグレージュ 8レベル"),
            Visit(41, "カラー", "owner", "アッシュグレージュ 8レベル（前回と同じ）"),
            Visit(5, "カット＋カラー", "owner", "アッシュグレージュ 8レベル"),
        ),
    ),
    "【翔太】清水 夏希": Customer(
        status="未対応",
        tags=("常連", "翔太", "ホットペッパー"),
        fields={"birthday": "1996-06-21", "gender": "女性"},
        visits=(Visit(92, "カット", "shota"), Visit(31, "カット＋カラー", "shota")),
    ),
    "山口 隆": Customer(
        status="完了",
        fields={"gender": "男性"},
        logs=(Log(17, "misaki", "ギフト券 5,000円を店頭で販売（お母様の誕生日プレゼント）"),),
    ),
    "【美咲】斎藤 桃子": Customer(
        status="完了",
        tags=("VIP", "乾燥", "美咲", "紹介"),
        fields={
            "birthday": "1991-01-25",
            "tel": "090-8901-2345",
            "gender": "女性",
            "style": "ピンクブラウン 7レベル。ツヤとまとまり重視。",
        },
        memos=(("次回", "酸熱トリートメントを追加。カラーは前回と同じ7レベルのピンクブラウン。"),),
        visits=(
            Visit(223, "カット＋カラー", "misaki"),
            Visit(161, "カット＋カラー", "misaki"),
            Visit(104, "カラー", "misaki"),
            Visit(51, "カット＋カラー", "misaki", "ピンクブラウン 7レベル"),
        ),
    ),
    "りょう": Customer(status="未対応", tags=("新規",), fields={"gender": "男性"}),
    "sora.tabi": Customer(tags=("Instagram",)),
    "岡田 智子": Customer(
        status="完了",
        tags=("常連", "店長", "ホームページ"),
        fields={
            "birthday": "1968-02-02",
            "gender": "女性",
            "parking": "あり",
            "style": "白髪染め。しみにくい低刺激のカラー剤で。",
        },
        memos=(("頭皮", "頭皮が敏感でしみやすい。低刺激のカラー剤を使用。"),),
        visits=(
            Visit(72, "白髪染め", "owner", "低刺激のカラー剤。しみなし"),
            Visit(36, "白髪染め", "owner"),
        ),
    ),
    "【店長】長谷川 裕美": Customer(
        status="未対応",
        tags=("常連", "店長"),
        fields={"gender": "女性", "style": "重めのワンレン。前髪は眉下ギリギリ。"},
        visits=(Visit(63, "カット", "owner"), Visit(22, "前髪カット", "owner")),
    ),
    "【美咲】エミリー ブラウン": Customer(
        status="完了",
        tags=("新規", "美咲"),
        fields={"gender": "女性"},
        memos=(("言語", "英語で対応（日本語は簡単な会話のみ）。"),),
        visits=(Visit(7, "カット", "misaki", "English. レイヤーカット、5cmカット"),),
    ),
    "【翔太】前田 純": Customer(
        status="対応中",
        tags=("常連", "細毛", "翔太"),
        fields={"gender": "男性", "style": "ニュアンスパーマ。朝は乾かすだけで決まるように。"},
        visits=(
            Visit(64, "メンズカット", "shota"),
            Visit(8, "デジタルパーマ", "shota", "細毛のため薬剤弱め"),
        ),
        message_mark=("クレーム", "先週パーマかけたんですけど"),
        followers=("owner",),
    ),
    "ゲスト 2096": Customer(),
    "【美咲】藤田 琴音": Customer(
        status="完了",
        tags=("常連", "美咲", "Instagram"),
        fields={
            "birthday": "2001-09-09",
            "gender": "女性",
            "style": "インナーカラー（ラベンダー）。",
        },
        visits=(
            Visit(91, "カット", "misaki"),
            Visit(
                12,
                "インナーカラー",
                "misaki",
                "カット＋インナーカラー（ラベンダー）。ブリーチ1回",
                price=14300,
            ),
        ),
    ),
    "【店長】石井 孝子": Customer(
        status="対応中",
        tags=("VIP", "くせ毛", "店長", "紹介"),
        fields={
            "birthday": "1978-11-11",
            "tel": "090-9012-3456",
            "gender": "女性",
            "parking": "あり",
            "style": "縮毛矯正で顔まわりのくせをおさえる。",
        },
        memos=(("ご家族", "中学生の娘さんも一緒にカット（翔太が担当）。"),),
        visits=(
            Visit(243, "縮毛矯正", "owner", "前髪と顔まわりのくせ"),
            Visit(181, "カット＋カラー", "owner"),
            Visit(122, "カット＋カラー", "owner"),
            Visit(60, "縮毛矯正", "owner", "根元のリタッチ"),
            Visit(19, "カット＋カラー", "owner"),
        ),
    ),
}
