"""``--scale`` data only: pools of names and phrases, and the shares of statuses and tags."""

from __future__ import annotations

from madoguchi.channels.models import ChannelKind

# (kanji, romaji), the most common first: picked with Zipf-like weights.
SURNAMES = tuple(
    pair.split(":")
    for pair in [
        "佐藤:sato",
        "鈴木:suzuki",
        "高橋:takahashi",
        "田中:tanaka",
        "伊藤:ito",
        "渡辺:watanabe",
        "山本:yamamoto",
        "中村:nakamura",
        "小林:kobayashi",
        "加藤:kato",
        "吉田:yoshida",
        "山田:yamada",
        "佐々木:sasaki",
        "山口:yamaguchi",
        "松本:matsumoto",
        "井上:inoue",
        "木村:kimura",
        "林:hayashi",
        "斎藤:saito",
        "清水:shimizu",
        "山崎:yamazaki",
        "森:mori",
        "池田:ikeda",
        "橋本:hashimoto",
        "阿部:abe",
        "石川:ishikawa",
        "山下:yamashita",
        "中島:nakajima",
        "石井:ishii",
        "小川:ogawa",
        "前田:maeda",
        "岡田:okada",
        "長谷川:hasegawa",
        "藤田:fujita",
        "後藤:goto",
        "近藤:kondo",
        "村上:murakami",
        "遠藤:endo",
        "青木:aoki",
        "坂本:sakamoto",
        "斉藤:saito",
        "福田:fukuda",
        "太田:ota",
        "西村:nishimura",
        "藤井:fujii",
        "金子:kaneko",
        "岡本:okamoto",
        "藤原:fujiwara",
        "中野:nakano",
        "三浦:miura",
        "原田:harada",
        "中川:nakagawa",
        "松田:matsuda",
        "竹内:takeuchi",
        "小野:ono",
        "田村:tamura",
        "中山:nakayama",
        "和田:wada",
        "石田:ishida",
        "森田:morita",
        "上田:ueda",
        "原:hara",
        "内田:uchida",
        "柴田:shibata",
        "酒井:sakai",
        "宮崎:miyazaki",
        "横山:yokoyama",
        "高木:takagi",
        "安藤:ando",
        "宮本:miyamoto",
        "大野:ono",
        "小島:kojima",
        "谷口:taniguchi",
        "今井:imai",
        "工藤:kudo",
        "高田:takada",
        "増田:masuda",
        "丸山:maruyama",
        "杉山:sugiyama",
        "村田:murata",
        "大塚:otsuka",
        "新井:arai",
        "小山:koyama",
        "平野:hirano",
        "藤本:fujimoto",
        "河野:kono",
        "上野:ueno",
        "野口:noguchi",
        "武田:takeda",
        "松井:matsui",
        "千葉:chiba",
        "岩崎:iwasaki",
        "菅原:sugawara",
        "木下:kinoshita",
        "久保:kubo",
        "佐野:sano",
        "野村:nomura",
        "松尾:matsuo",
        "市川:ichikawa",
        "菊地:kikuchi",
        "杉本:sugimoto",
        "古川:furukawa",
        "大西:onishi",
        "島田:shimada",
        "水野:mizuno",
        "桜井:sakurai",
        "高野:takano",
        "吉川:yoshikawa",
        "山内:yamauchi",
        "西田:nishida",
        "飯田:iida",
        "菅野:sugano",
        "服部:hattori",
        "早川:hayakawa",
        "東海林:shoji",
        "勅使河原:teshigawara",
        "四十物:aimono",
    ]
)
# (kanji, kana, romaji)
GIVEN_NAMES = tuple(
    triple.split(":")
    for triple in [
        "陽子:ようこ:yoko",
        "麻衣:まい:mai",
        "陽菜:ひな:hina",
        "結衣:ゆい:yui",
        "さくら:さくら:sakura",
        "彩:あや:aya",
        "愛:あい:ai",
        "優花:ゆうか:yuka",
        "真由美:まゆみ:mayumi",
        "由香:ゆか:yuka",
        "奈々:なな:nana",
        "千尋:ちひろ:chihiro",
        "里奈:りな:rina",
        "夏希:なつき:natsuki",
        "桃子:ももこ:momoko",
        "琴音:ことね:kotone",
        "美穂:みほ:miho",
        "智子:ともこ:tomoko",
        "裕美:ひろみ:hiromi",
        "恵美:えみ:emi",
        "明日香:あすか:asuka",
        "遥:はるか:haruka",
        "葵:あおい:aoi",
        "花:はな:hana",
        "沙織:さおり:saori",
        "香織:かおり:kaori",
        "直子:なおこ:naoko",
        "久美子:くみこ:kumiko",
        "由美子:ゆみこ:yumiko",
        "恵子:けいこ:keiko",
        "典子:のりこ:noriko",
        "美紀:みき:miki",
        "綾香:あやか:ayaka",
        "杏:あん:an",
        "凛:りん:rin",
        "芽衣:めい:mei",
        "莉子:りこ:riko",
        "美月:みづき:mizuki",
        "七海:ななみ:nanami",
        "詩織:しおり:shiori",
        "真央:まお:mao",
        "未来:みく:miku",
        "亜美:あみ:ami",
        "瞳:ひとみ:hitomi",
        "紗希:さき:saki",
        "千夏:ちなつ:chinatsu",
        "朋美:ともみ:tomomi",
        "佳奈:かな:kana",
        "梨花:りか:rika",
        "絵里:えり:eri",
        "麻美:あさみ:asami",
        "理恵:りえ:rie",
        "幸子:さちこ:sachiko",
        "春香:はるか:haruka",
        "美優:みゆ:miyu",
        "日菜子:ひなこ:hinako",
        "心春:こはる:koharu",
        "紗綾:さや:saya",
        "健太:けんた:kenta",
        "翔:しょう:sho",
        "大輔:だいすけ:daisuke",
        "拓也:たくや:takuya",
        "隆:たかし:takashi",
        "純:じゅん:jun",
        "亮:りょう:ryo",
        "悠斗:ゆうと:yuto",
        "蓮:れん:ren",
        "大翔:ひろと:hiroto",
        "直樹:なおき:naoki",
        "和也:かずや:kazuya",
        "浩二:こうじ:koji",
        "誠:まこと:makoto",
        "陸:りく:riku",
        "颯太:そうた:sota",
    ]
)
SURNAME_WEIGHTS = tuple(1 / (rank + 1) ** 0.9 for rank in range(len(SURNAMES)))
EMOJI = ("🌸", "🌷", "✨", "💐", "🍀", "☕", "🐈", "🌙", "♪", "⭐")

# menu, price (yen, tax included)
MENUS = (
    ("カット", "4,950"),
    ("カット＋カラー", "11,000"),
    ("カラー", "7,150"),
    ("パーマ", "8,800"),
    ("縮毛矯正", "16,500"),
    ("トリートメント", "3,300"),
    ("前髪カット", "1,100"),
    ("ヘッドスパ", "4,400"),
    ("白髪染め", "6,600"),
    ("インナーカラー", "9,900"),
    ("メンズカット", "4,400"),
    ("ヘアセット", "5,500"),
)
DAYS = (
    "明日",
    "明後日",
    "今週の土曜日",
    "今週の日曜日",
    "来週の月曜日",
    "来週の水曜日",
    "来週の木曜日",
    "来週の金曜日",
)
HOURS = ("10時", "10時半", "11時", "13時", "14時", "15時半", "16時", "17時", "18時", "19時")
COLOURS = (
    "ミルクティーベージュ",
    "アッシュグレージュ",
    "ピンクブラウン",
    "オリーブベージュ",
    "ラベンダーグレー",
    "ダークブラウン",
    "ハイトーンのブロンド",
)

# A flow is steps of (who, variants); who is "c" (customer), "r" (reply) or "n" (internal note).
Flow = tuple[tuple[str, tuple[str, ...]], ...]
FLOWS: tuple[Flow, ...] = (
    (  # booking
        (
            "c",
            (
                "{day}の{hour}って空いてますか？{menu}お願いしたいです",
                "{menu}の予約をお願いしたいです。{day}の{hour}頃はどうですか？",
                "こんにちは！{day}{hour}から{menu}で予約できますか？",
                "{day}、{menu}で予約したいです🙏",
            ),
        ),
        (
            "r",
            (
                "{sama}、お問い合わせありがとうございます。{day}の{hour}から{menu}でご案内可能です。"
                "ご予約お取りしてよろしいでしょうか？",
                "{sama}、いつもありがとうございます。{day}は{hour}からでしたらお取りできます。"
                "いかがでしょうか？",
            ),
        ),
        ("c", ("お願いします！", "はい、お願いします🙏", "それでお願いします", "じゃあそれで！")),
        (
            "r",
            (
                "承知いたしました。{day}{hour}〜、{menu}でご予約お取りしました。"
                "ご来店お待ちしております。",
                "かしこまりました。{day}{hour}〜でお待ちしております！",
            ),
        ),
    ),
    (  # rescheduling
        (
            "c",
            (
                "すみません、{day}の予約なんですが、急用で行けなくなってしまって…日にち変えられますか？",
                "予約の日にちを変更したいです。{day}の{hour}って空いてますか？",
                "仕事が入ってしまって、予約の時間を遅らせることってできますか？",
            ),
        ),
        (
            "r",
            (
                "{sama}、ご連絡ありがとうございます。変更承ります。ご希望の日時はございますか？",
                "{sama}、ご連絡ありがとうございます。{day}は{hour}からご案内できます。"
                "こちらでよろしいでしょうか？",
            ),
        ),
        ("c", ("{day}の{hour}でお願いします", "それでお願いします！すみません🙇", "助かります！")),
        ("r", ("{day}{hour}〜に変更いたしました。お気をつけてお越しください。",)),
    ),
    (  # price
        (
            "c",
            (
                "{menu}っていくらですか？",
                "{menu}の料金を教えてください",
                "ロングなんですけど、{menu}はいくらくらいになりますか？",
            ),
        ),
        (
            "r",
            (
                "お問い合わせありがとうございます。{menu}は{price}円（税込）です。"
                "髪の長さや状態によって変わる場合がございますので、カウンセリングでご案内いたします。",
                "{menu}は{price}円（税込）です。初回の方は10%オフになります！",
            ),
        ),
        ("c", ("ありがとうございます、検討します", "わかりました！予約するときまた連絡します")),
    ),
    (  # colour
        (
            "c",
            (
                "{colour}にしたいんですけど、ブリーチなしでもできますか？",
                "{colour}って色落ちしやすいですか？",
                "白髪が気になってきたんですけど、{colour}みたいな明るめの色でも染まりますか？",
            ),
        ),
        (
            "r",
            (
                "{sama}、ご相談ありがとうございます。今の髪色によりますが、"
                "{colour}でしたらブリーチなしでも近い色味をお出しできます。"
                "よろしければ写真を送っていただけますか？",
                "色落ちを抑えるカラーシャンプーもございますので、ご来店時にご案内しますね。",
            ),
        ),
        ("c", ("写真送りますね！", "よかったです！お願いします", "なるほど、ありがとうございます")),
    ),
    (  # perm
        (
            "c",
            (
                "デジタルパーマとコスメパーマの違いってなんですか？",
                "髪が細くてパーマがすぐ取れちゃうんですけど、かかりますか？",
                "ゆるめのパーマをかけたいです。朝のスタイリングが楽になりますか？",
            ),
        ),
        (
            "r",
            (
                "デジタルパーマは熱でしっかりカールをつけるので持ちが良く、"
                "コスメパーマはダメージが少なく柔らかい仕上がりです。",
                "髪質に合わせて薬剤を選びますので大丈夫です。乾かすだけでまとまるようにお作りします。",
            ),
        ),
        ("c", ("じゃあ{menu}と一緒にお願いしたいです", "ありがとうございます！考えてみます")),
    ),
    (  # directions and parking
        (
            "c",
            (
                "駅からの行き方を教えてください",
                "駐車場ってありますか？",
                "初めて行くんですけど、お店の場所がわかりにくいって聞いて…",
                "自転車で行っても大丈夫ですか？",
            ),
        ),
        (
            "r",
            (
                "駅の東口を出て、右手のコンビニの角を曲がって徒歩3分、花屋さんの入ったビルの2階です。",
                "専用駐車場はございませんが、ビル裏のコインパーキングのサービス券をお渡ししています。",
                "ビルの前に駐輪スペースがございますので、そちらをご利用ください。",
            ),
        ),
        ("c", ("わかりました！", "ありがとうございます、助かります")),
    ),
    (  # thanks after a visit
        (
            "c",
            (
                "今日はありがとうございました！{staff}さんにお願いしてよかったです✨",
                "昨日はありがとうございました。すごく扱いやすいです！",
                "カラーめちゃくちゃ気に入ってます！ありがとうございました😊",
            ),
        ),
        (
            "r",
            (
                "{sama}、嬉しいお言葉ありがとうございます！またのご来店をお待ちしております。",
                "{sama}、ありがとうございます！スタイリングで困ったらいつでもご連絡くださいね。",
            ),
        ),
        ("c", ("また来月お願いします！", "次もよろしくお願いします🙏")),
    ),
    (  # a complaint
        (
            "c",
            (
                "昨日{menu}してもらったんですが、思ってた色と違って…",
                "カットしてもらったところ、左右の長さが違う気がします",
                "パーマがもう取れてきちゃいました…",
            ),
        ),
        ("n", ("@{staff} さん担当でお願いします", "お直しで対応します。店長から連絡します")),
        (
            "r",
            (
                "{sama}、この度はご不便をおかけし申し訳ございません。"
                "1週間以内でしたら無料でお直しいたします。ご都合のよい日時をお知らせください。",
            ),
        ),
        ("c", ("{day}の{hour}でお願いできますか", "ありがとうございます。よろしくお願いします")),
    ),
    (  # cancellation
        (
            "c",
            (
                "{day}の予約キャンセルしたいです。すみません",
                "体調を崩してしまって、{day}の予約をキャンセルさせてください",
            ),
        ),
        (
            "r",
            (
                "{sama}、ご連絡ありがとうございます。キャンセル承りました。お大事になさってください。",
                "キャンセル承りました。またのご連絡をお待ちしております。",
            ),
        ),
    ),
    (  # last treatment and points
        (
            "c",
            (
                "前回のカラーって何でしたっけ？同じのにしたいです",
                "ポイントってどれくらい貯まってますか？",
            ),
        ),
        (
            "r",
            (
                "{sama}、前回は「{colour}」でお染めしております。同じお色でご用意しますね。",
                "{sama}、現在{points}ポイントです。10ポイントでトリートメント1回無料になります！",
            ),
        ),
        ("c", ("ありがとうございます！", "楽しみにしてます")),
    ),
)
FOLLOW_UPS = (
    "あと、駐車場ってありますか？",
    "すみません、もう一つ質問です。{menu}も一緒にできますか？",
    "{day}の{hour}でもいいですか？",
    "お返事お待ちしてます",
    "やっぱり{day}の予約でお願いしたいです",
    "{menu}の時間ってどれくらいかかりますか？",
    "写真送ります！こんな感じにしたいです",
)
CHANNEL_KINDS = (
    ChannelKind.line,
    ChannelKind.instagram,
    ChannelKind.email,
    ChannelKind.web,
    ChannelKind.api,
)
CHANNEL_KIND_WEIGHTS = (50, 25, 10, 10, 5)


UNREAD_SHARE = 0.3
SCALE_DAYS = 365
SCALE_BATCH = 2000
# Content is the same every run (comparable benchmarks); external ids are new every run.
SCALE_SEED = 20261124
# When customers write (hour of day, Japan time), with repeats as weights.
CUSTOMER_HOURS = (7, 8, 9, 10, 11, 12, 12, 13, 15, 17, 18, 19, 20, 21, 21, 22, 22, 23)
# Statuses and tags come from a generator of their own: the histories stay as they were.
SCALE_CRM_SEED = SCALE_SEED + 1
# Status shares: (name, share) for conversations waiting for an answer, and for the others;
# what is left has none (about 80% have one in all).
SCALE_STATUSES_UNREAD = (("未対応", 0.9), ("対応中", 0.1))
SCALE_STATUSES_READ = (("完了", 0.55), ("連絡待ち", 0.1), ("対応中", 0.06))
# Tags: (folder, name, share). The ranks exclude each other; the others are drawn apart.
SCALE_RANKS = (
    ("顧客ランク", "VIP", 0.05),
    ("顧客ランク", "常連", 0.35),
    ("顧客ランク", "新規", 0.15),
)
SCALE_OTHER_TAGS = (("来店きっかけ", "Instagram", 0.2), ("髪質診断", "くせ毛", 0.25))
SCALE_TAGS = tuple((folder, name) for folder, name, _ in (*SCALE_RANKS, *SCALE_OTHER_TAGS))
# Visits (施術履歴 records) come from a generator of their own too: about 70% of contacts have
# been to the salon, 1 to 5 times over the last two years (weights by number of visits).
SCALE_VISITS_SEED = SCALE_SEED + 2
SCALE_VISIT_SHARE = 0.7
SCALE_VISIT_DAYS = 730
SCALE_VISIT_COUNTS = ((1, 35), (2, 25), (3, 18), (4, 12), (5, 10))
# Marks and profile fields come from a generator of their own as well: a mark (対応マーク) on one
# contact in twenty, any of them alike; 性別 answered by two in five, (choice, share of all the
# contacts); 生年月日 known for one in five, born in SCALE_BIRTH_YEARS.
SCALE_PROFILE_SEED = SCALE_SEED + 3
SCALE_MARK_SHARE = 0.05
SCALE_GENDERS = (("女性", 0.28), ("男性", 0.10), ("その他", 0.01), ("回答しない", 0.01))
SCALE_BIRTHDAY_SHARE = 0.2
SCALE_BIRTH_YEARS = (1950, 2010)
