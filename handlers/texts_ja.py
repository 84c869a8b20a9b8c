"""The Japanese catalogue: one sentence for every key of the English one.

`handlers.texts.EN` (with everything the handler modules register) is the
source; this table mirrors its keys, with the same named placeholders, the
same Slack mrkdwn (`*bold*`, backticks, `<@{user}>`, `<#{channel}>`, emoji
codes) and the command names left as they are typed. Polite business
Japanese (です・ます), whole sentences. `tests/test_texts.py` checks that no
key is missing and that the placeholders match.

This module imports nothing from `handlers`, so `handlers.texts` can import it.
"""

from __future__ import annotations

JA: dict[str, str] = {
    # --- help and usage (handlers.texts) ----------------------------------------------
    "help.title": "Countersign：ニュースレター配信デスク",
    "help.body": (
        "*書く*\n"
        "`/newsletter new` で下書きフォームを開きます。`/newsletter edit ID` で下書きを"
        "変更します（変更すると、それまでの承認はすべて無効になります）。\n"
        "`/newsletter show ID` で、読者に届くとおりの号全体を、事前チェックの結果と配信対象とともに"
        "表示します（`show ID source` で書かれたとおりのテンプレート）。"
        "`/newsletter test ID` で、[TEST] 版をご自身のアドレスに送信します。\n"
        "*送信（2 名で）*\n"
        '`/newsletter submit ID [at YYYY-MM-DD HH:MM] [canary N%|canary off] [override "reason"]` '
        "で承認者に承認を依頼します。依頼者ご本人と執筆者以外の方が承認する必要があります。"
        "カナリア配信では、リストの一部に先に送り、様子を見てから残りに送ります。\n"
        "`/newsletter cancel ID` で依頼を取り下げます。`/newsletter status [ID]` で進捗を"
        "表示します。\n"
        "`/newsletter halt` ですべての送信をただちに停止します。`/newsletter resume ID` で"
        "再開の承認を依頼します。\n"
        "*振り返る*\n"
        "`/newsletter report ID` で号の結果を表示します。"
        "`/newsletter list`、`/newsletter audit [ID]`、`/newsletter schedule`、"
        "`/newsletter subscribers` でこれまでの記録や現在の状況を確認できます。\n"
        "`/newsletter recipients ID` で、その号を受け取った人の CSV をダイレクトメッセージで"
        "受け取れます（承認者のみ）。\n"
        "*問題が起きたら*\n"
        "`/newsletter halt`、続いて `/newsletter recipients ID`、そして `/newsletter correct ID`"
        "（受け取った読者だけへの訂正）。ケースごとの手順書：{runbooks}\n"
        "*読者対応*\n"
        "`/unsubscribe EMAIL [note]` で配信停止の依頼を処理します。`/unsubscribe` だけを"
        "入力するとフォームが開きます。"
    ),
    "usage.unknown": "サブコマンド `{word}` は使えません。使えるコマンドは次のとおりです。",
    "usage.bad_arguments": "`/newsletter {sub}` には {expected} が必要です。例：`{example}`",
    # --- access -------------------------------------------------------------------------
    "access.not_team": (
        "申し訳ありませんが、Countersign はニュースレター担当チームのメンバーのみ利用できます。"
        "チームの管理者に追加を依頼してください。"
    ),
    "access.directory_plan": (
        "チームのメンバーを確認できませんでした。ユーザーグループの利用には Slack の有料プランが"
        "必要です。代わりに TEAM と APPROVERS にユーザー ID（U…）の一覧を設定してください。"
    ),
    "access.directory_error": (
        "Slack から `{error}` という応答があったため、チームのメンバーを確認できませんでした。"
        "1 分ほどしてからもう一度お試しください。"
    ),
    # --- drafting -----------------------------------------------------------------------
    "draft.title_new": "新しい号",
    "draft.title_edit": "第{issue}号の編集",
    "draft.title_correction": "第{issue}号の訂正",
    "draft.submit": "保存",
    "draft.cancel": "キャンセル",
    "draft.subject_label": "件名",
    "draft.body_label": "本文（Markdown）",
    "draft.body_hint": (
        "{{{{ subscriber.name }}}}、{{{{ subscriber.company }}}}、{{{{ list_name }}}}、"
        "{{{{ issue_date }}}}、{{{{ unsubscribe_url }}}} を使えます。"
        "末尾には配信停止リンクが自動で追加されます。"
        "Slack の入力欄 1 つに入るのは {section_chars} 文字までです。それより長い場合は"
        "「セクションを追加」を押すか（最大 {sections} セクション、空行でつなぎます）、"
        "本文をファイルで添付してください（{body_chars} 文字まで）。"
    ),
    "draft.saving": ":hourglass_flowing_sand: 保存しています…長い号では少し時間がかかります。",
    "draft.saved_modal": (
        ":white_check_mark: 保存しました。詳しくは私からのメッセージをご覧ください。"
    ),
    "draft.problem_notice": ":warning: 保存していません：{problem}",
    "draft.close": "閉じる",
    "draft.section_label": "本文（Markdown）セクション {number}／{count}",
    "draft.add_section": "セクションを追加",
    "draft.file_label": "または本文をファイルで添付",
    "draft.file_hint": (
        "UTF-8 の Markdown（.md）またはテキスト（.txt）ファイル、{body_chars} 文字まで。"
        "ファイルを添付するときはセクションを空のままにしてください。"
    ),
    "draft.too_long_for_sections": (
        ":warning: この号の本文（{chars} 文字）は、内容を変えずにフォームのセクションへ"
        "分けられません。変更するには本文全体をあらためてファイルで添付してください。"
        "下のセクションは空にしてあります。"
    ),
    "draft.body_empty": "本文をセクションに入力するか、ファイルで添付してください。",
    "draft.file_and_sections": (
        "ファイルの添付とセクションへの入力は、どちらか一方にしてください。"
        "ファイルは入力した内容を置き換えてしまいます。"
    ),
    "draft.file_unreadable": (
        "添付ファイルを読み込めませんでした（{error}）。もう一度添付してください。"
    ),
    "draft.file_type": (
        "{name} は Markdown（.md、.markdown）やテキスト（.txt）のファイルではありません。"
    ),
    "draft.file_too_large": "ファイルは {size} バイトあり、{body_chars} 文字の本文を超えています。",
    "draft.file_not_utf8": (
        "ファイルが UTF-8 のテキストではありません（{position} バイト目を読めません）。"
        "UTF-8 で保存してから、もう一度添付してください。"
    ),
    "draft.file_too_long": "ファイルは {chars} 文字あります。本文は {body_chars} 文字までです。",
    "draft.saved": (
        "第{issue}号をバージョン {version}（ハッシュ `{hash12}`）として保存しました。"
        "次は `/newsletter show {issue}` でプレビューを確認し、"
        "`/newsletter submit {issue}` で承認を依頼してください。"
    ),
    "draft.edit_voided": (
        "第{issue}号をバージョン {version} として保存しました。保留中または承認済みだった"
        "承認依頼は無効になりました。次は `/newsletter show {issue}` でプレビューを確認し、"
        "`/newsletter submit {issue}` であらためて承認を依頼してください。"
    ),
    "draft.no_such_issue": "第{issue}号は存在しません。",
    # --- template problems --------------------------------------------------------------
    "template.too_many_tags": (
        "{line}行目：テンプレートに書ける {tags} は合わせて {limit} 個までです。"
    ),
    "template.comment_unclosed": "{line}行目：{opener} で始めたコメントが閉じられていません。",
    "template.control_structure": (
        "{line}行目：`{found}` のような制御構文は使えません。"
        "テンプレートで表示できるのは {allowed} だけです。"
    ),
    "template.not_printable": (
        "{line}行目：`{found}` は使えません。テンプレートで表示できるのは {allowed} だけです。"
    ),
    "template.subject_empty": "件名が空です。",
    "template.subject_too_long": "件名が {limit} 文字を超えています。",
    "template.body_too_long": "本文が {limit} 文字を超えています。",
    "template.too_many_marks": (
        "本文に記号 {marks} が {limit} 個を超えて含まれています。Markdown を簡単にしてください。"
    ),
    "template.too_large": "メッセージが {limit} KB を超えてしまいます。",
    "template.tag_unclosed": "本文で開いたタグ（{openers}）が閉じられていません。",
    "template.render_failed": "テンプレートを展開できません（{error}）。",
    "template.rendered_too_long": "メッセージが {limit} 文字を超えてしまいます。",
    "template.too_slow": "本文の準備に時間がかかりすぎます。Markdown を簡単にしてください。",
    "template.unsubscribe_conditional": (
        "配信停止リンクが一部の読者にしか表示されません。すべての読者に必要です。"
    ),
    # --- preview ------------------------------------------------------------------------
    "preview.not_rendered": (
        ":no_entry: この版は読者向けに表示できません。理由は下の指摘事項のとおりです。"
    ),
    "preview.title": "第{issue}号のプレビュー（読者に届くとおり）",
    "preview.sample_reader": (
        ":bust_in_silhouette: 架空の見本読者 *{company}* の *{name}* さん宛てに表示しています。"
        "実際の読者にはそれぞれ自分の名前と会社名が入ります。"
        "このプレビューの配信停止リンクはどこにもつながりません。"
    ),
    "preview.subject": "*件名：* {subject}",
    "preview.part": "第{issue}号のプレビュー：{parts} 件中 {part} 件目",
    "preview.source_hint": "書かれたとおりのテンプレート：`/newsletter show {issue} source`",
    "preview.source_title": "第{issue}号：書かれたとおりのテンプレート",
    "preview.source_part": "第{issue}号のソース：{parts} 件中 {part} 件目",
    "preview.facts": (
        "状態 *{state}* · バージョン {version}（執筆：<@{author}>） · ハッシュ `{hash12}` · "
        "リスト {list_name}：宛先 {recipients} 件"
    ),
    "preview.no_findings": "事前チェック：すべての項目に問題はありません。",
    "preview.findings_title": "事前チェックの指摘事項：",
    # An emoji before a finding sentence that is itself translated (finding.*).
    "preview.blocking": ":no_entry: {message}",
    "preview.warning": ":warning: {message}",
    "preview.detail": "検出内容：{detail}",
    # --- preflight findings -------------------------------------------------------------
    "finding.subject_empty": "件名が空です。",
    "finding.subject_multiline": "件名が複数行になっています。",
    "finding.template_error": "テンプレートを展開できません。",
    "finding.unsubscribe_missing": "HTML 版またはテキスト版に配信停止リンクがありません。",
    "finding.unresolved_variables": (
        "置き換えられていないプレースホルダーが {count} 個残っており、"
        "そのまま読者に届いてしまいます。"
    ),
    "finding.size_large": (
        "HTML 版のサイズが {kilobytes} KB あります。Gmail では 102 KB を超えるメールが"
        "途中で省略されます。"
    ),
    "finding.insecure_link": "http:// のリンクが含まれています。https:// をお勧めします。",
    "finding.personal_email": "送信元以外のメールアドレスが {count} 件含まれています。",
    "finding.personal_phone": "電話番号が {count} 件含まれています。",
    "finding.subscriber_data": (
        "購読者または配信停止を依頼した方の個人情報が {count} 件含まれています（{kinds}）。"
    ),
    # --- list ---------------------------------------------------------------------------
    "list.empty": "まだ号がありません。`/newsletter new` で作成を始めてください。",
    "list.title": "号の一覧（新しい順）：",
    "list.line": "#{issue} · *{state}* · {subject}（バージョン {version}）",
    # --- test copy ----------------------------------------------------------------------
    "test.sent": "第{issue}号の [TEST] 版を {address} に送信しました。",
    "refusal.test_no_email": (
        "Slack のプロフィールにメールアドレスが見つからなかったため、テスト版は送信していません。"
    ),
    "refusal.test_outside_domain": (
        "{address} にはテスト版を送信できません。テスト版の送信先は {domains} のアドレスに"
        "限られています。別のドメインを許可するには TEST_RECIPIENT_DOMAINS を設定してください。"
    ),
    "refusal.test_failed": (
        "Postmark がテスト版を受け付けませんでした（{reason}）。何も送信されていません。"
    ),
    # --- approval -----------------------------------------------------------------------
    "card.title": "承認のお願い：第{issue}号",
    "card.title_resume": "第{issue}号の送信再開の承認のお願い",
    "card.subject": "*件名：* {subject}",
    "card.facts": (
        "*リスト：* {list_name} · *宛先：* {recipients} 件 · *ハッシュ：* `{hash12}` · "
        "*バージョン：* {version}（執筆：<@{author}>）"
    ),
    "card.requested": "依頼者：<@{requester}>。有効期限は {expires} です。",
    "card.correction": (
        ":memo: *第{original}号の訂正（その読者 {recipients} 人へ）*："
        "第{original}号を受け取った読者だけが宛先です。その後に配信停止・抑止された人は除かれます。"
    ),
    "card.scheduled": (
        "*送信予定：* {when}。この承認は {until} まで有効です。それまでに送信が始まらなければ、"
        "改めて承認が必要です。"
    ),
    "card.now": "*送信：* 承認され次第すぐに送信します",
    "card.override": ":red_circle: *事前チェックを無視して依頼されています*（{codes}）：{reason}",
    "card.canary": (
        ":hatching_chick: *配信計画：* まず {percent} %（無作為に選んだ {size} 名）に送り、"
        "{minutes} 分後に残りに送ります。先に送った分の不達が {bounces} %、"
        "迷惑メール報告が {complaints} % を超えると、送信は自動で停止します。"
    ),
    "card.canary_off": "*配信計画：* {recipients} 名全員に一度に送ります（カナリアなし）。",
    "card.preview_hint": (
        "承認の前に、読者に届くとおりの号全体を読み（プレビュー、または "
        "`/newsletter show {issue}`）、自分の受信箱でも確かめてください（テスト版を自分に送る）。"
    ),
    "card.approve": "承認する",
    "card.reject": "却下する",
    "card.preview": "プレビュー",
    "card.test_copy": "テスト版を自分に送る",
    "card.confirm_title": "第{issue}号を送信しますか？",
    "card.confirm_now": "第{issue}号を {recipients} 人の読者に今すぐ送信しますか？",
    "card.confirm_at": "第{issue}号を {recipients} 人の読者に {when} に送信しますか？",
    "card.confirm_resume": (
        "第{issue}号の送信を再開し、残りの {recipients} 人の読者に今すぐ送信しますか？"
    ),
    "card.confirm_yes": "承認して送信",
    "card.confirm_no": "まだしない",
    "card.confirm_canary": "まず {size} 人に送り、残りには {minutes} 分後に送ります。",
    "card.state.approved": ":white_check_mark: {when} に <@{who}> さんが承認しました。",
    "card.state.rejected": ":x: {when} に <@{who}> さんが却下しました：{note}",
    "card.state.cancelled": ":heavy_minus_sign: {when} に <@{who}> さんが取り下げました。",
    "card.state.expired": (
        ":hourglass: この依頼は {when} に期限切れとなりました。まだ必要であれば、"
        "あらためて承認を依頼してください。"
    ),
    "card.state.void": ":warning: 無効：{note}。以前の承認は適用されません。",
    "card.void.edited": "この依頼の後に号が編集されました",
    "card.void.resubmitted": "新しい依頼に置き換えられました",
    "card.void.halted": "送信が始まる前に緊急停止が押されました",
    "submit.posted": ("<#{channel}> で第{issue}号の承認を依頼しました（宛先 {recipients} 件）。"),
    "card.pending": (
        "Slack がまだ依頼のカードを受け付けていないため、<#{channel}> にはまだ表示されていません。"
        "Slack が応答しだい投稿されます。その間も依頼は有効です。"
    ),
    "submit.blocked": (
        "第{issue}号は承認を依頼できません。事前チェックで送信を妨げる問題が見つかりました"
        '（{codes}）。問題を修正するか、確信がある場合は `override "reason"` を付けてください。'
        "無視した旨は赤字で表示されます。"
    ),
    "reject.title": "第{issue}号の却下",
    "reject.label": "却下の理由をご記入ください。依頼者に表示されます。",
    "reject.submit": "却下する",
    "cancel.done": "第{issue}号の依頼を取り下げました。",
    # --- refusals -----------------------------------------------------------------------
    "refusal.issue_not_found": (
        "第{issue}号は存在しません。`/newsletter list` で既存の号を確認できます。"
    ),
    "refusal.issue_has_no_version": "第{issue}号にはまだ保存された内容がありません。",
    "refusal.issue_not_editable": (
        "第{issue}号は {state} のため、これ以上編集できません。訂正した本文を送るには、"
        "`/newsletter new` で新しい号を作成してください。"
    ),
    "refusal.illegal_transition": "第{issue}号は {current} のため、{wanted} にはできません。",
    "refusal.schedule_in_past": "第{issue}号に指定された日時はすでに過ぎています。",
    "refusal.preflight_blocked": (
        "第{issue}号は承認を依頼できません。事前チェックで送信を妨げる問題が見つかりました"
        '（{codes}）。問題を修正するか、確信がある場合は `override "reason"` を付けてください。'
        "無視した旨は赤字で表示されます。"
    ),
    "refusal.content_changed_during_submit": (
        "依頼の処理中に第{issue}号が変更されました。もう一度お試しください。"
    ),
    "refusal.use_resume": (
        "第{issue}号はすでに一部が送信されています。`/newsletter resume {issue}` を使ってください。"
    ),
    "refusal.already_sent": (
        "第{issue}号は {state} です。すでに配信されているため、再度申請することはできません。"
        "読者にもう一度お知らせするには、`/newsletter new` で新しい号を作成してください。"
    ),
    "refusal.not_halted": (
        "第{issue}号は {state} で、停止中ではないため、再開するものはありません。"
    ),
    "refusal.request_not_found": "その承認依頼はもう存在しません。",
    "refusal.request_not_open": "この依頼はすでに {state} です。何も変更していません。",
    "refusal.request_expired": (
        "この依頼は期限切れです。`/newsletter submit` であらためて承認を依頼してください。"
    ),
    "refusal.not_an_approver": (
        "承認・却下ができるのは承認者のみです。あなたは承認者ではないため、何も変更していません。"
    ),
    "refusal.self_approval": (
        "この承認はあなたが依頼したものです。ほかの方に承認してもらう必要があります。"
    ),
    "refusal.author_approval": (
        "この号のバージョン {version} はあなたが執筆したものです。ほかの方に承認してもらう"
        "必要があります。"
    ),
    "refusal.content_changed": ("この依頼の後に号が変更されたため、この依頼は承認できません。"),
    "refusal.plan_upgrade_required": (
        "チームのメンバーを確認できませんでした。ユーザーグループの利用には Slack の有料プランが"
        "必要です。代わりに TEAM と APPROVERS にユーザー ID（U…）の一覧を設定してください。"
    ),
    "refusal.slack_error": (
        "Slack から `{error}` という応答がありました。1 分ほどしてからもう一度お試しください。"
    ),
    "refusal.bad_time": (
        "`{text}` の日時を読み取れませんでした。日付と時刻を {tz} の YYYY-MM-DD HH:MM の形式で"
        "入力してください（例：`at {example}`）。"
    ),
    # --- audit --------------------------------------------------------------------------
    "audit.empty": "まだ記録はありません。",
    "audit.system": "Countersign（自動処理）",
    "audit.older": "さらに古い記録",
    "audit.page_end": "上の {count} 件が最新の記録です。古い記録はボタンで表示できます。",
    "audit.no_more": "記録は以上です。",
    "audit.details": "詳細：{details}",
    "audit.event.other": "{when}：{actor} — {action}。",
    "audit.event.issue.created": (
        "{when}：{actor} が第{issue}号を作成しました（バージョン {version}、ハッシュ `{hash}`）。"
    ),
    "audit.event.issue.edited": (
        "{when}：{actor} が第{issue}号を編集しました。現在はバージョン {version}"
        "（ハッシュ `{hash}`）です。"
    ),
    "audit.event.issue.state": (
        "{when}：第{issue}号の状態が {before} から {after} になりました（{actor}）。"
    ),
    "audit.event.issue.cancelled": "{when}：{actor} が第{issue}号を取り下げました。",
    "audit.event.issue.test_copy": (
        "{when}：{actor} が第{issue}号のテスト送信をしました（バージョン {version}、"
        "ハッシュ `{hash}`）。"
    ),
    "audit.event.approval.requested": (
        "{when}：{actor} が第{issue}号の承認を依頼しました（バージョン {version}、"
        "ハッシュ `{hash}`、宛先 {recipients} 件）。"
    ),
    "audit.event.approval.approved": (
        "{when}：{actor} が第{issue}号を承認しました（バージョン {version}、ハッシュ `{hash}`）。"
    ),
    "audit.event.approval.rejected": "{when}：{actor} が第{issue}号を却下しました。",
    "audit.event.approval.expired": "{when}：第{issue}号の承認依頼が期限切れになりました。",
    "audit.event.approval.voided": "{when}：第{issue}号の承認依頼が無効になりました（{reason}）。",
    "audit.event.preflight.overridden": (
        "{when}：{actor} が第{issue}号の事前チェックの指摘を上書きしました（理由：{reason}）。"
    ),
    "audit.event.send.started": "{when}：第{issue}号の配信が始まりました（{actor}）。",
    "audit.event.delivery.made_after_all": (
        "{when}：Postmark の検索に出ていなかった第{issue}号のメッセージが、実際には配信されて"
        "いました。その受信者は送信済みに数え直されました。"
    ),
    "audit.event.send.resumed": "{when}：第{issue}号の配信が再開されました（{actor}）。",
    "audit.event.send.seed_copies": (
        "{when}：第{issue}号の確認用コピーをチームのアドレス {seeds} 件のうち {sent} 件に"
        "送りました（{skipped} 件は対象外、{failed} 件は未送信）。"
    ),
    "audit.event.send.halted": "{when}：{actor} が第{issue}号の配信を停止しました。",
    "audit.event.send.finished": "{when}：第{issue}号の配信が完了しました。",
    "audit.event.send.refused": "{when}：第{issue}号の配信は拒否されました。",
    "audit.event.unsubscribe.requested": (
        "{when}：{actor} が配信停止の依頼を処理しました（アドレス {subject}）。"
    ),
    "audit.event.suppression.added": (
        "{when}：アドレスを配信抑止にしました（{subject}、{reason}、{actor}）。"
    ),
    "audit.event.subscribers.imported": (
        "{when}：{actor} がリストに {rows} 行を取り込みました"
        "（追加 {added} 件、更新 {updated} 件）。"
    ),
    "audit.event.recipients.exported": (
        "{when}：{actor} が第{issue}号の受信者一覧を書き出しました（{rows} 行）。"
    ),
    "audit.title": "監査ログ（新しい順）",
    "audit.title_issue": "第{issue}号の監査ログ（新しい順）",
    # --- notices in the channel ---------------------------------------------------------
    "notice.approval.voided": (
        "第{issue}号の承認依頼は無効になりました（{reason_text}）。あらためて承認が必要です。"
    ),
    "notice.approval.expired": "第{issue}号の承認依頼は、判断がないまま期限切れとなりました。",
    "notice.approval.expired_unstarted": (
        "第{issue}号の承認は、送信が始まる前に期限切れとなりました。何も送信されていません。"
        "まだ送る必要があれば、もう一度承認を依頼してください。"
    ),
    "refusal.not_yet_available": "`/newsletter {sub}` はこのバージョンではまだ使えません。",
    "generic.error": (
        "こちら側で問題が発生しました（{error}）。何も変更していません。もう一度お試しください。"
    ),
    # --- App Home (handlers.home) -------------------------------------------------------
    "home.title": "Countersign：ニュースレター配信デスク",
    "home.next_due": "次の号の予定日は *{when}* です（スケジュール `{cron}`）。",
    "home.next_due_unknown": (
        "次の予定日はありません。スケジュール `{cron}` ではこの先実行されません。"
    ),
    "home.issues_title": "状態別の号",
    "home.issues_line": "{state}：{count} 件",
    "home.issues_none": (
        "まだ号がありません。`/newsletter new` と入力して最初の号の下書きを作成してください。"
    ),
    "home.approvals_title": "承認待ち",
    "home.approvals_none": "承認待ちの依頼はありません。",
    "home.approvals_more": (
        "ほかに {count} 件の承認待ちがあります。"
        "`/newsletter list` ですべての号と状態を確認できます。"
    ),
    "home.approval_line": (
        "*#{issue}* {subject} · 宛先 {recipients} 件 · ハッシュ `{hash12}` · "
        "依頼者 <@{requester}> · 有効期限 {expires}"
    ),
    "home.may_approve": (
        ":white_check_mark: この依頼はあなたが承認できます"
        "（チャンネルのカードから承認してください）。"
    ),
    "home.not_approver": "あなたは承認者ではないため、この依頼は承認できません。",
    "home.own_request": (
        "この承認はあなたが依頼したものです。ほかの方に承認してもらう必要があります。"
    ),
    "home.own_version": (
        "このバージョンはあなたが執筆したものです。ほかの方に承認してもらう必要があります。"
    ),
    "home.approver_unknown": "あなたが承認者かどうかを確認できませんでした（{error}）。",
    "home.recent_title": "直近 3 号の結果",
    "home.recent_none": "まだ何も送信していません。",
    "home.recent_line": (
        "*第{issue}号* {subject} · {state} · {total} 件中 {sent} 件送信、{failed} 件失敗、"
        "{suppressed} 件抑止 · 配達済み {delivered} 件、不達 {bounced} 件、"
        "迷惑メール報告 {complaints} 件、配信停止 {unsubscribes} 件"
    ),
    "home.recent_when": "開始 {started}、終了 {finished}。`/newsletter report {issue}`",
    "home.list_title": "リスト",
    "home.list_counts": (
        "{list_name}：有効 {active} 件、配信停止 {unsubscribed} 件、無効化 {inactive} 件、"
        "不正なアドレス {invalid} 件 · 配信抑止 {suppressions} 件"
    ),
    "home.footer": (
        "{when} に更新しました。すべてのコマンドは `/newsletter help` で確認できます。"
    ),
    # --- schedule and reminders (handlers.schedule) -------------------------------------
    "schedule.lead.today": ":calendar: お知らせ：次の号の予定日は本日（{due}）です。",
    "schedule.lead.tomorrow": ":calendar: お知らせ：次の号の予定日は明日（{due}）です。",
    "schedule.lead.days": ":calendar: お知らせ：次の号の予定日は {days} 日後（{due}）です。",
    "schedule.status.none": "まだ下書きがありません。`/newsletter new` で作成を始めてください。",
    "schedule.status.draft": (
        "第{issue}号「{subject}」は下書きのままで、まだ承認を依頼していません："
        "`/newsletter submit {issue}`"
    ),
    "schedule.status.rejected": (
        "第{issue}号「{subject}」は却下されました。`/newsletter edit {issue}` で編集し、"
        "あらためて承認を依頼してください。"
    ),
    "schedule.status.awaiting_approval": (
        "下書き第{issue}号「{subject}」は承認待ちです。{approvers} が承認できます。"
    ),
    "schedule.status.awaiting_approval_anyone": (
        "下書き第{issue}号「{subject}」は、承認者（依頼者・執筆者を除く）の承認待ちです。"
    ),
    "schedule.status.approved": "第{issue}号「{subject}」は承認済みで、まもなく送信されます。",
    "schedule.status.scheduled": (
        "第{issue}号「{subject}」は承認済みで、{when} に送信される予定です。"
    ),
    "schedule.status.sending": "第{issue}号「{subject}」は現在送信中です。",
    "schedule.status.halted": (
        "第{issue}号「{subject}」の送信は停止されました。`/newsletter resume {issue}` で"
        "再開の承認を依頼できます。"
    ),
    "schedule.status.sent": "第{issue}号「{subject}」は送信済みです。これ以上の対応は不要です。",
    "schedule.title": "今後の予定",
    "schedule.next_due": "次の号の予定日は {due} です。",
    "schedule.no_due": "ISSUE_SCHEDULE にはこれ以降の予定日がありません。",
    "schedule.reminders": "リマインダーは {dates} に <#{channel}> に投稿されます。",
    "schedule.no_reminders": "この号の前に予定されているリマインダーはもうありません。",
    "schedule.scheduled_send": "第{issue}号は {when} に送信される予定です。",
    "schedule.no_scheduled": "予定されている送信はありません。",
    "schedule.your_zone": "時刻はあなたのタイムゾーン（{tz}）で表示しています。",
    "schedule.missed": (
        ":warning: 第{issue}号は {when} に送信される予定でしたが、その時刻に私は稼働して"
        "いませんでした。{minutes} 分の遅れは許容範囲の {grace} 分を超えているため、送信して"
        "いません。この号の承認は取り消されました。まだ送信が必要な場合は "
        "`/newsletter submit {issue}` であらためて承認を依頼してください（新しい日時の指定は"
        "任意です）。不要な場合は `/newsletter cancel {issue}` で取り下げてください。"
    ),
    "schedule.stalled": (
        ":hourglass: 第{issue}号の送信が {minutes} 分間（{since} 以降）進んでいません。"
        "`/newsletter status {issue}` で状況を確認できます。`/newsletter halt` で"
        "すべての送信を停止できます。"
    ),
    # --- sending (handlers.sending) -----------------------------------------------------
    "send.progress.title": "第{issue}号を送信中",
    "send.progress.counts": (
        "*{total} 件中 {done} 件* 処理済み：送信 {sent} 件、失敗 {failed} 件、"
        "配信抑止・配信停止 {suppressed} 件、不明 {unknown} 件。"
    ),
    "send.progress.bar": "{bar} {percent} %",
    "send.progress.rate": "毎秒 {rate} 通のペースで、残りはおよそ {eta} です。",
    "send.progress.rate_unknown": "送信ペースを計測しています…",
    "send.progress.halt": "すべての送信を停止する",
    "send.progress.state.halted": (
        ":octagonal_sign: 停止しました（{reason}）。送信済み {sent} 件、未送信 {pending} 件です。"
    ),
    "send.progress.state.halted_landing": (
        ":octagonal_sign: 停止しました（{reason}）。これまでに送信済み {sent} 件。すでに送信中の "
        "{in_flight} 件は届き次第数えます。未送信は {pending} 件です。"
    ),
    "send.progress.state.finished": ":white_check_mark: 完了しました。",
    "send.summary": (
        "第{issue}号の送信が完了しました：{total} 件中 {sent} 件を Postmark に引き渡し、"
        "失敗 {failed} 件、配信抑止・配信停止 {suppressed} 件、不明 {unknown} 件でした。"
    ),
    "send.summary.unknown_hint": (
        "{unknown} 件の宛先は状態が不明で、自動では再送されません。対応方法は上のお知らせを"
        "ご覧ください。"
    ),
    "send.halted": (
        "第{issue}号の送信を停止しました（{reason_text}）。これまでに送信済み {sent} 件。"
        "すでに Postmark へ送信中の {in_flight} 件は最後まで処理され、届いた時点で数えます。"
        "{pending} 件の宛先には送信されません。続行するには "
        "`/newsletter resume {issue}` で新たに承認を依頼してください。"
    ),
    "send.halt_settled": (
        "第{issue}号（停止中）：送信中だったバッチがすべて届きました。合計で {total} 件中 "
        "{sent} 件を送信、失敗 {failed} 件、配信抑止・配信停止 {suppressed} 件、不明 {unknown} "
        "件です。{pending} 件の宛先には送信されていません。送るには "
        "`/newsletter resume {issue}` で新たに承認を依頼してください。"
    ),
    "send.halted.by": "<@{actor}> さんが停止しました。",
    "send.halt_reason.manual": "手動で停止されました",
    "send.halt_reason.circuit_breaker": "サーキットブレーカーが作動しました：{detail}",
    "send.halt_reason.postmark_refused": "Postmark がバッチを拒否しました：{detail}",
    "send.halt_reason.postmark_unavailable": "Postmark でエラーが続きました：{detail}",
    "send.halt_reason.postmark_template_changed": (
        "Postmark 上のこの号のテンプレートが変更され、承認された内容ではなくなりました：{detail}"
    ),
    "send.halt_reason.postmark_template_limit": (
        "Postmark のサーバーあたり 100 件のテンプレート上限に達しています：{detail}"
    ),
    "send.halt_reason.postmark_template_refused": (
        "Postmark がこの号のテンプレートを拒否しました：{detail}"
    ),
    "send.resumed": (
        "<@{approver}> さんの承認により、第{issue}号の送信を再開します。残りの宛先は "
        "{pending} 件です。すでに送信済みの宛先に再び届くことはありません。"
    ),
    "send.refused.hash_mismatch": (
        "第{issue}号は送信されて *いません*。内容（ハッシュ `{now}`）が承認された内容"
        "（`{approved}`）と一致しません。承認は無効になりました。あらためて承認を依頼してください。"
    ),
    "send.refused.audience_drift": (
        "第{issue}号は送信されて *いません*。配信対象が {approved} 件から {now} 件に変わりました"
        "（{drift} %、許容範囲の {allowed} % を超えています）。承認は無効になりました。"
        "リストを確認してから、あらためて承認を依頼してください。"
    ),
    "send.refused.stream_changed": (
        "第{issue}号は送信されて *いません*。ストリーム `{approved}` で承認されましたが、"
        "現在はストリーム `{now}` で送信する設定になっています。承認は無効になりました。"
        "あらためて承認を依頼してください。"
    ),
    "send.refused.stream_missing": (
        "第{issue}号は送信されて *いません*。Postmark にメッセージストリーム `{stream}`"
        "（設定 {setting}）がありません。Postmark で {wanted} ストリームを作成するか {setting} "
        "を直してから、あらためて承認を依頼してください。"
    ),
    "send.refused.stream_wrong_type": (
        "第{issue}号は送信されて *いません*。Postmark のストリーム `{stream}`（{setting}）は "
        "{found} ストリームで、{wanted} ではありません。一斉配信と個別のメールが同じストリームを"
        "使うことはありません。{setting} を {wanted} ストリームに向けてから、あらためて承認を"
        "依頼してください。"
    ),
    "send.refused.stream_no_unsubscribe": (
        "第{issue}号は送信されて *いません*。配信用ストリーム `{stream}`（{setting}）の配信停止"
        "の扱いが `{found}` のため、Postmark は配信停止リンクも List-Unsubscribe ヘッダーも"
        "付けません。Postmark でこのストリームの配信停止の扱いを Postmark にしてから、"
        "あらためて承認を依頼してください。"
    ),
    "send.refused.approval_expired": (
        "第{issue}号は送信されて *いません*。送信が始まる前に、承認が {until} に期限切れと"
        "なりました。まだ送る必要があれば、もう一度承認を依頼してください。"
    ),
    "send.refused.approval_not_valid": (
        "第{issue}号は送信されて *いません*。承認が {state} です。"
        "あらためて承認を依頼してください。"
    ),
    "send.refused.issue_not_approved": (
        "第{issue}号は送信されて *いません*。この号は {state} で、承認されていません。"
    ),
    "send.refused.send_not_halted": (
        "第{issue}号は再開されていません。送信は {state} で、停止中ではありません。"
    ),
    "send.start_failed": (
        "第{issue}号の送信はまだ始まっていません。Postmark でメッセージストリームと配信抑止"
        "リストを確認できませんでした（{reason}）。1 分後にもう一度試します。何も送信されて"
        "いません。"
    ),
    "send.unknown": (
        ":warning: 第{issue}号の宛先のうち {count} 件は状態が不明です。バッチが Postmark に"
        "届いたかどうかを Postmark に確認できませんでした。"
        "これらの宛先には自動では再送 *しません*。"
        "誰に届いたかは、Postmark の Activity でタグ `{tag}` とメタデータ `batch_id` = {batch} "
        "で絞り込んで確認してください。"
    ),
    "status.none": "まだ送信はありません。",
    "status.line": (
        "#{issue} {subject} · *{state}* · {total} 件中 {sent} 件送信、失敗 {failed} 件、"
        "配信抑止 {suppressed} 件、不明 {unknown} 件、残り {remaining} 件"
    ),
    "status.halted_by": "<@{who}> さんが停止しました：{reason}",
    "halt.done.sending": (
        "送信中の {count} 件を停止しました：{issues}。すでに送信中のバッチは最後まで処理されます。"
    ),
    "halt.done.approved": "承認済みでまだ送信が始まっていない {count} 件を止めました：{issues}。",
    "halt.done.scheduled": "予約されていた {count} 件の予約を取り消しました：{items}。",
    "halt.done.scheduled_item": "#{issue}（{when} の予定でした）",
    "halt.done.again": (
        "新たに 2 人による承認があるまで、何も送信されません：`/newsletter resume ID`。"
    ),
    "halt.nothing": (
        "現在、送信中・承認済み・予約済みのものはないため、停止するものはありませんでした。"
    ),
    "resume.asked": (
        "<#{channel}> で第{issue}号の送信再開の承認を依頼しました（リストの宛先 {recipients} 件）。"
    ),
    # --- subscribers (handlers.subscribers) ---------------------------------------------
    "subscribers.title": "購読者",
    "subscribers.no_lists": (
        "まだリストがありません。`countersign subscribers import` でインポートしてください。"
    ),
    "subscribers.list_line": (
        "*{list_name}*：有効 {active} 件、配信停止 {unsubscribed} 件、無効化 {inactive} 件"
        "（バウンスまたは苦情）、不正なアドレス {invalid} 件、削除済み {forgotten} 件です。"
    ),
    "subscribers.suppressions_line": (
        "配信抑止：合計 {total} 件（配信停止 {unsubscribed} 件、ハードバウンス {bounced} 件、"
        "迷惑メール報告 {complaints} 件、その他 {other} 件）です。"
    ),
    "subscribers.push_line": (
        "Postmark への反映：反映済み {pushed} 件、Postmark 由来または 1 つのリストのみに関わる"
        "もの {not_needed} 件、反映待ち {pending} 件です。"
    ),
    "subscribers.push_pending_line": (
        ":warning: {pending} 件の配信抑止がまだ Postmark に反映されていません（最も古いものは "
        "{since} から、最大 {attempts} 回試行、直近のエラー：{error}）。こちらではすでに有効です。"
        "反映は自動で再試行されます。"
    ),
    "subscribers.usage": (
        "`/newsletter subscribers`、`/newsletter subscribers import`、"
        "`/newsletter subscribers find TEXT`、"
        "`/newsletter subscribers forget EMAIL`、"
        "`/newsletter subscribers resubscribe EMAIL reason` のいずれかを使ってください。"
    ),
    "subscribers.find_none": "該当する購読者はいません。",
    "subscribers.find_title": "{total} 件の購読者が該当しました。{shown} 件を表示しています。",
    "subscribers.find_line": (
        "{address} · {name} · {company} · リスト {list_name}：{status}{suppressed}"
    ),
    # Appended to find_line's status, as the English " (suppressed)" is.
    "subscribers.find_suppressed": "（配信抑止中）",
    "subscribers.find_requests_title": "該当する配信停止の依頼（社内用）：",
    "subscribers.find_request_line": (
        "{when}（担当 <@{actor}>）：{address} · 申告された氏名 {name} · 申告された会社名 {company}"
    ),
    "subscribers.find_forgotten": (
        "そのアドレスは削除済みの方のものです。ハッシュのみを保持しており、配信抑止は引き続き"
        "有効です。"
    ),
    "subscribers.forget_ask": (
        "{address} を忘れると、すべてのリストと配信停止依頼からそのアドレス・名前・会社名が"
        "消去されます。元には戻せません。"
    ),
    "subscribers.forget_button": "完全に忘れる",
    "subscribers.forget_confirm_title": "この人を完全に忘れますか？",
    "subscribers.forget_confirm_text": (
        "{address} をすべての場所から消去しますか？元には戻せません。アドレスは配信停止のままです。"
    ),
    "subscribers.forget_confirm_yes": "完全に忘れる",
    "subscribers.forget_confirm_no": "残す",
    "subscribers.forgotten": (
        "{address} を削除しました。購読者 {subscribers} 件と配信停止の依頼 {requests} 件から、"
        "アドレス・氏名・会社名を消去しました。ソルト付きハッシュのみを保持するため、"
        "このアドレスは引き続き配信抑止され、インポートで再び追加されることもありません。"
    ),
    "subscribers.resubscribed": (
        "{address} を {subscribers} 件のリストで再び購読状態にしました。{suppressions} 件の"
        "配信抑止をこちらと Postmark の両方で解除しました。理由は監査ログに記録されています。"
    ),
    "subscribers.resubscribed_no_list": (
        "{address} の配信抑止をこちらと Postmark の両方で解除しましたが、このアドレスは"
        "どのリストにも登録されていません。今後のインポートで追加される可能性があります。"
    ),
    "refusal.find_too_short": "検索するには {chars} 文字以上を入力してください。",
    "refusal.forget_push_pending": (
        "{address} は配信抑止されていますが、Postmark に接続できなかったため、Postmark 側には"
        "まだ記録されていません。消去したアドレスは Postmark に反映できなくなるため、まだ何も"
        "消去していません。数分後にもう一度お試しください。"
    ),
    "refusal.resubscribe_not_approver": (
        "アドレスを再購読させられるのは承認者のみです。承認者に依頼してください。"
    ),
    "refusal.resubscribe_needs_reason": (
        "再購読には監査ログに残す理由が必要です：`/newsletter subscribers resubscribe EMAIL reason`"
    ),
    "refusal.not_suppressed": "{address} は配信抑止されていないため、解除するものはありません。",
    "refusal.resubscribe_spam_complaint": (
        "{address} からは迷惑メールの報告がありました。Postmark はそのようなアドレスを再び"
        "有効にしないため、再購読させることはできません。"
    ),
    "refusal.resubscribe_postmark": (
        "Postmark で配信抑止を解除できなかったため（{error}）、何も変更していません。"
        "しばらくしてからもう一度お試しください。"
    ),
    # --- unsubscribe (handlers.unsubscribe) ---------------------------------------------
    "unsubscribe.title": "読者の配信停止",
    "unsubscribe.submit": "配信停止する",
    "unsubscribe.email_label": "読者のメールアドレス",
    "unsubscribe.name_label": "読者が申告した氏名",
    "unsubscribe.company_label": "読者が申告した会社名",
    "unsubscribe.internal_hint": (
        "チーム内でのみ保持します。確認メールも含め、どのメールにも記載されません。"
    ),
    "unsubscribe.note_label": "社内メモ",
    "unsubscribe.confirm_label": "確認メール",
    "unsubscribe.confirm_option": "このアドレスに確認メールを送る",
    "unsubscribe.confirm_hint": (
        "日本語と英語の定型文です。このフォームに入力した内容は一切含まれません。"
    ),
    "unsubscribe.usage": (
        "依頼を処理するには `/unsubscribe EMAIL [note]` と入力してください。"
        "`/unsubscribe` だけを入力するとフォームが開きます。"
    ),
    "unsubscribe.done_all": (
        "{address} の配信を停止しました。{count} 件の購読を終了し、すべてのリストで"
        "配信抑止しました。"
    ),
    "unsubscribe.done_list": "{address} をリスト {list_name} から配信停止し、配信抑止しました。",
    "unsubscribe.not_on_list": (
        "{address} はどのリストにも登録されていません。それでも配信抑止として記録したため、"
        "今後のインポートで追加されることはありません。"
    ),
    "unsubscribe.not_on_named_list": (
        "{address} はリスト {list_name} に登録されていません。それでもこのリストで配信抑止として"
        "記録したため、今後のインポートで追加されることはありません。"
    ),
    "unsubscribe.already": "{address} はすでに配信停止・配信抑止済みです。変更は不要でした。",
    "unsubscribe.push_pushed": "Postmark の配信抑止リストにも登録されています。",
    "unsubscribe.push_pending": (
        "現在 Postmark に接続できません。配信抑止はこちらではすでに有効で、Postmark にも"
        "自動で反映されます。進み具合は `/newsletter subscribers` で確認できます。"
    ),
    "unsubscribe.push_not_needed": (
        "1 つのリストのみに関わるため、こちらでのみ保持し、Postmark には送りません"
        "（Postmark の配信抑止はすべてのリストに及ぶためです）。"
    ),
    "unsubscribe.confirmation_sent": "{address} に確認メールを送信しました。",
    "unsubscribe.confirmation_already_sent": (
        "このアドレスには以前に確認メールを送信済みのため、2 通目は送信していません。"
    ),
    "unsubscribe.confirmation_failed": (
        "確認メールを送信できませんでした（{error}）。配信停止自体は完了しています。"
        "確認メールの再送は行いません。"
    ),
    "unsubscribe.confirmation_uncertain": (
        "Postmark から時間内に応答がなかったため（{error}）、確認メールが送信されたかどうかは"
        "不明です。再送は行いません。配信停止自体は完了しています。"
    ),
    "unsubscribe.confirmation_none": "確認メールは送信していません。",
    "refusal.invalid_address": (
        "`{address}` はメールアドレスではありません（{reason}）。何も変更していません。"
    ),
    "refusal.unknown_list": "{list_name} というリストはありません。何も変更していません。",
    "unsubscribe.failed": (
        "依頼の処理中に問題が発生しました（{error}）。アドレスが受け付けられていれば、"
        "配信抑止はすでに有効です。`/newsletter subscribers find` で確認してください。"
    ),
    # --- state names ---
    "state.draft": "下書き",
    "state.awaiting_approval": "承認待ち",
    "state.approved": "承認済み",
    "state.scheduled": "送信予約済み",
    "state.sending": "送信中",
    "state.sent": "送信済み",
    "state.halted": "停止中",
    "state.cancelled": "取り消し済み",
    "state.rejected": "差し戻し",
    "state.open": "受付中",
    "state.expired": "期限切れ",
    "state.void": "無効",
    "state.preparing": "準備中",
    "state.finished": "完了",
    "state.refused": "開始拒否",
    "state.pending": "未送信",
    "state.batched": "送信中",
    "state.failed": "失敗",
    "state.suppressed": "Postmark で配信停止済み",
    "state.invalid": "無効なアドレス",
    "state.unknown": "不明（Postmark で確認できず）",
    "state.skipped": "送信前に配信停止・抑止されたため対象外",
    # --- who got what (handlers.incident) ---
    "recipients.summary": (
        "第{issue}号の受信者は {rows} 行です。全アドレス入りの CSV は Countersign との"
        "ダイレクトメッセージにあり、あなただけが開けます。"
    ),
    "recipients.outcome": "• {outcome}：{count}",
    "recipients.file_title": "第{issue}号の受信者",
    "recipients.file_comment": (
        "第{issue}号を受け取った人：{rows} 行（アドレス、時刻、結果、Postmark の MessageID、"
        "版のハッシュ）。アドレスが含まれます。他の人に渡さず、用が済んだら削除してください。"
    ),
    "refusal.recipients_approvers_only": (
        "第{issue}号の受信者を見られるのは承認者だけです（アドレスが含まれるため）。"
        "あなたは承認者ではないので、何も渡していません。"
    ),
    "refusal.issue_never_sent": "第{issue}号は一度も送信されていないので、受け取った人はいません。",
    "refusal.correction_nobody_received": (
        "第{issue}号を受け取った人がいないので、訂正を送る相手がいません。"
    ),
    "correct.subject": "訂正：{subject}",
    # --- usage: what a subcommand expects ---
    "usage.expects.nothing": "引数なし",
    "usage.expects.show": "号の番号（続けて `source` も可）",
    "usage.expects.issue": "号の番号",
    "usage.expects.optional_issue": "号の番号（省略可）",
    "usage.expects.submit": (
        "号の番号と、必要に応じて `at YYYY-MM-DD HH:MM`、`canary N%` または `canary off`、"
        '`override "理由"`'
    ),
    "usage.expects.subscribers": (
        "引数なし、または `import`・`find 文字列`・`forget メールアドレス`・"
        "`resubscribe メールアドレス 理由`"
    ),
    # --- the canary (handlers.sending, handlers.canary) ---
    "send.progress.canary": (
        ":hatching_chick: まずカナリアとして {total} 名中 {canary} 名に送り、"
        "{hold_minutes} 分待ってから残りに送ります。"
    ),
    "send.progress.hold": (
        ":hourglass_flowing_sand: カナリア送信後の待機中です。残り（{pending} 名）は "
        "*{until}* に送ります。誰でも停止でき、承認者は今すぐ残りを送ることもできます。"
    ),
    "send.progress.send_rest": "今すぐ残りを送る",
    "send.progress.keep_holding": "待機を続ける",
    "send.progress.send_rest_confirm": (
        "第{issue}号を、待機中の残り {pending} 名に今すぐ送りますか？"
    ),
    "send.seed_copies": (
        ":seedling: 第{issue}号の確認用コピーを、読者より先にチームの確認用アドレス "
        "{seeds} 件のうち {sent} 件に送りました。これは読者の数には含まれません。"
    ),
    "send.seed_copies.skipped": (
        "確認用アドレス {skipped} 件は送りませんでした（配信停止済み、またはこの号の読者です）。"
    ),
    "send.seed_copies.failed": (
        ":warning: 確認用コピー {failed} 件を送れませんでした。配信はそのまま続きます。"
        "Postmark の応答は `/newsletter audit {issue}` で確認できます。"
    ),
    "canary.hold": (
        ":hourglass_flowing_sand: 第{issue}号のカナリア送信が終わりました（{canary} 名）。"
        "残りは {until} まで待機します。カナリアの不達が {bounces} %、"
        "迷惑メール報告が {complaints} % を超えると、送信は自動で停止します。"
    ),
    "canary.released.hold_over": (
        "第{issue}号の待機が終わりました。カナリア {canary} 名のうち不達 {bounced} 名、"
        "迷惑メール報告 {complaints} 名でした。残りを今から送ります。"
    ),
    "canary.released.by_hand": (
        "<@{actor}> さんが第{issue}号の残りを今すぐ送りました（カナリア {canary} 名のうち"
        "不達 {bounced} 名、迷惑メール報告 {complaints} 名）。"
    ),
    "send.halt_reason.canary_bounces": (
        "カナリアの不達が急増しました（{detail}）。リストの残りには送っていません"
    ),
    "send.halt_reason.canary_complaints": (
        "カナリアの迷惑メール報告が急増しました（{detail}）。リストの残りには送っていません"
    ),
    "refusal.not_an_approver_rest": (
        "待機が終わる前に残りを送れるのは承認者だけです。停止はどなたでもできます。"
    ),
    "refusal.canary_halted": (
        "カナリアに問題があったため、送信は自動で停止しました。残りには送っていません。"
    ),
    "refusal.no_canary_hold": "この送信で待機中のものはもうありません。",
    # --- how each issue did (handlers.reports) ---
    "report.title": "第{issue}号の結果",
    "report.subject": "*{subject}* · {state} · 配信対象 {total} 名",
    "report.line": "`{bar}` *{value}* {label}（{share} %）",
    "report.label.sent": "送信",
    "report.label.delivered": "配達済み",
    "report.label.bounced": "不達（ハード {hard}、ソフト {soft}）",
    "report.label.complaints": "迷惑メール報告",
    "report.label.unsubscribes": "この号から配信停止",
    "report.label.failed": "失敗",
    "report.label.suppressed": "送信前に配信停止・抑止済み",
    "report.label.unknown": "状態不明",
    "report.label.remaining": "未送信",
    "report.bases": (
        "送信・失敗・抑止は配信対象 {total} 名に対する割合、配達済み・不達・迷惑メール報告・"
        "配信停止は送信した {sent} 通に対する割合です（Postmark の Webhook による集計）。"
        "開封とクリックは計測していません。"
    ),
    "refusal.report_not_sent": "第{issue}号はまだ送信されていないため、結果はありません。",
    "report.chart.title": "第{issue}号：最初の 48 時間",
    "report.chart.hours": "送信開始からの時間（時）",
    "report.chart.count": "人数",
    "report.chart.bounces": "不達",
    "report.chart.unsubscribes": "配信停止",
    "report.chart.comment": "第{issue}号の最初の 48 時間の不達と配信停止です。",
    "report.chart.failed": "（グラフをアップロードできませんでした：{error}）",
    "report.chart.posted": "48 時間のグラフは <#{channel}> のこの号のスレッドにあります。",
    "report.day_after": "第{issue}号の送信から 1 日が経ちました。",
    # --- kinds of personal data found by preflight ---
    "finding.kind.name": "氏名",
    "finding.kind.company": "会社名",
    "finding.kind.address": "メールアドレス",
    # --- what replaces personal data in typed text shown in the channel ---
    "redacted.address": "［メールアドレス削除］",
    "redacted.phone": "［電話番号削除］",
    "finding.kind.note": "配信停止の依頼のメモに書かれた内容",
    "finding.body_empty": "本文に内容がありません。空であるか、配信停止リンクしかありません。",
    "finding.postal_address_missing": (
        "フッターに送信者の住所がありません。法律上、すべてのメールマガジンに必要です。"
        "NEWSLETTER_POSTAL_ADDRESS を設定してから、号を保存し直してください。"
    ),
    "finding.contact_missing": (
        "フッターに問い合わせ先がありません。NEWSLETTER_CONTACT を確認してから、"
        "号を保存し直してください。"
    ),
    # --- importing subscribers from Slack ---
    "import.title": "購読者の取り込み",
    "import.submit": "試行する",
    "import.file_label": "CSV ファイル",
    "import.file_hint": (
        "Countersign の email,name,company、Mailchimp の購読者・配信停止者・クリーン済みの"
        "エクスポート、または listmonk のエクスポート。UTF-8 か CP932。別のチームメンバーが"
        "確定するまで何も変わりません。"
    ),
    "import.list_label": "リスト",
    "import.need_one_file": "CSV ファイルを 1 つ選んでください。",
    "import.list_address": "リスト名にメールアドレスは使えません。チャンネルに表示されます。",
    "import.unreadable": "このファイルは取り込めません。何も変更していません：{error}。",
    "import.summary": (
        "*リスト {list_name} への取り込みの試行*（{file_format}、{encoding}）：{rows} 行を"
        "読みました。追加 {added} 件、更新 {updated} 件、変更なし {unchanged} 件、重複の統合 "
        "{merged} 件、新しい配信抑止 {suppressed} 件（既に抑止済み {already_suppressed} 件）、"
        "配信対象から外れる登録済み購読者 {stopped} 件、スキップ {skipped} 件、却下 {rejected} "
        "件になります。まだ何も変更していません。チャンネルのカードで別のチームメンバーが確定"
        "する必要があります。"
    ),
    "import.sample_line": "{line} 行目：{kind}、{address}",
    "import.rejected_line": "{line} 行目：却下、{reason}",
    "import.kind.added": "追加",
    "import.kind.updated": "更新",
    "import.kind.suppressed": "配信抑止",
    "import.kind.skipped": "スキップ",
    "import.card_open": (
        ":inbox_tray: <@{requester}> さんがリスト *{list_name}* へのファイルの取り込みを"
        "依頼しました（{file_format}）：{rows} 行。追加 {added} 件、更新 {updated} 件、新しい"
        "配信抑止 {suppressed} 件、配信対象から外れる購読者 {stopped} 件、スキップ {skipped} "
        "件、却下 {rejected} 件になります。別のチームメンバーの確定が必要です（期限 {expires}）。"
    ),
    "import.card_applied": (
        ":white_check_mark: <@{requester}> さんが依頼したリスト *{list_name}* への取り込みを "
        "<@{decided_by}> さんが確定しました：追加 {added} 件、更新 {updated} 件、新しい配信抑止 "
        "{suppressed} 件、配信対象から外れた購読者 {stopped} 件、スキップ {skipped} 件、却下 "
        "{rejected} 件。"
    ),
    "import.card_cancelled": (
        "<@{requester}> さんが依頼したリスト *{list_name}* への取り込みは <@{decided_by}> "
        "さんが取り消しました。何も変更していません。"
    ),
    "import.card_expired": (
        "<@{requester}> さんが依頼したリスト *{list_name}* への取り込みは、別のチームメンバーの"
        "確定がないまま期限が切れました。何も変更していません。"
    ),
    "import.card_applying": (
        "リスト *{list_name}* への取り込みを反映しています（<@{decided_by}> さんが確定）。"
    ),
    "import.confirm": "取り込みを確定",
    "import.cancel": "取り消す",
    "import.confirm_title": "リストに取り込みますか？",
    "import.confirm_text": (
        "次号を受け取る人が変わります：追加 {added} 件、新しい配信抑止 {suppressed} 件、"
        "配信対象から外れる購読者 {stopped} 件。"
    ),
    "import.confirm_yes": "取り込む",
    "import.confirm_no": "まだしない",
    "import.done": (
        "取り込みを反映しました：追加 {added} 件、更新 {updated} 件、新しい配信抑止 "
        "{suppressed} 件。"
    ),
    "refusal.import_not_found": "その取り込みの依頼はもうありません。",
    "refusal.import_decided": "その取り込みは既に確定、取り消し、または期限切れになっています。",
    "refusal.import_expired": (
        "その取り込みの依頼は期限（{hours} 時間）が切れました。何も変更していません。"
        "`/newsletter subscribers import` からもう一度取り込んでください。"
    ),
    "refusal.import_needs_second_person": (
        "ご自身の取り込みは別のチームメンバーが確定する必要があります。取り込みは次号を受け"
        "取る人を変えるため、必ず 2 人で行います。"
    ),
    "refusal.file_unavailable": "Slack からファイルを取得できませんでした（{error}）。",
    "refusal.file_too_large": "ファイルが {megabytes} MB を超えています。",
}
