"""The scripted model: a deterministic stand-in for the AI server behind every devnet provider.

A real 0G provider proxies requests to an LLM, image, speech or embedding server; the devnet provider
calls these functions instead. They take and return OpenAI-compatible JSON (dicts), use no network and
no randomness, and give the same answer to the same request; only ``created`` timestamps follow the
clock. The scripted model understands nothing. It follows the rules below, chosen so that client
libraries (OpenAI SDK, LangChain, LlamaIndex) can be tested end to end. Invalid requests raise
``ScriptedModelError`` (a ``ValueError``; the server answers HTTP 400).

Chat: ``chat_completion`` and ``chat_completion_chunks``
--------------------------------------------------------
Reads ``messages`` (roles system, developer, user, assistant, tool and legacy function; content a
string, null or a list of parts, of which ``text`` and ``image_url`` are read and ``input_audio``,
``file`` and other types ignored), ``tools``, ``tool_choice`` (``none``, ``auto``, ``required``,
``any`` or a named function), ``parallel_tool_calls``, ``response_format`` (``text``,
``json_object``, ``json_schema``), ``max_completion_tokens`` / ``max_tokens``, ``stop`` and ``n``
(1 only). ``temperature``, ``top_p``, ``seed``, penalties, ``logprobs`` (always null), ``user``,
``stream`` and the legacy ``functions`` are accepted and ignored. The first rule that applies decides:

1. Tool results. When the last message has role tool (or function), the content has one line per
   trailing tool message: ``Tool result (<function name>): <content verbatim>``, or ``Tool result:
   <content>`` when no earlier tool call has that ``tool_call_id``; finish_reason ``stop``. It never
   calls a tool again. With a JSON ``response_format`` the JSON is built from the results (rule 3).
2. Tool calls, when ``tools`` are given and ``tool_choice`` is not ``none``:
   - a named ``tool_choice`` calls exactly that function;
   - otherwise it calls the tools that the last user message names, verbatim (``get_weather``) or
     as separate words in any case (``get weather``; snake_case, kebab-case and camelCase names),
     in order of first mention. If none is named, the tools sharing a keyword with the message (a
     word of 5+ letters from the tool's name or description, without stopwords and generic words
     such as "function", "input", "value"; a trailing "s" dropped) are called, most shared first;
   - ``required`` / ``any`` with no such tool calls the first tool;
   - ``parallel_tool_calls: false`` keeps only the first one; a tool is called at most once;
   - ``auto`` with no such tool goes on to rule 3.
   Arguments always validate against the tool's ``parameters`` (see "Filling a JSON schema"),
   filled from the last user message; when several tools are named, each call first uses the
   part from its tool's mention to the next mention (``multiply 3 by 4 and add 5 and 6``). Ids
   are ``call_`` + 24 hex digits of a hash of (messages, tool name, index). Content is null,
   finish_reason ``tool_calls``; tool calls are never cut by ``stop`` or ``max_tokens``.
3. JSON. ``json_schema``: the content is ``json.dumps`` of a value valid against the schema, filled
   from the last user message (from the tool results after rule 1). ``json_object``: an object of
   string values whose keys are the ones the message asks for (quoted identifiers followed by
   ``:``; quoted identifiers when it says key(s), field(s), property, properties or attribute(s);
   lists such as ``keys name, age and city``), else ``{"answer": <the rule 4 reply>}``.
4. Text, from the last user message:
   - with images the reply starts ``I see 1 image: <h1>.`` / ``I see 2 images: <h1>, <h2>.``,
     each h the first 12 hex digits of sha256 of the image URL string (data URLs included);
   - ``say`` / ``repeat`` followed within 60 characters by a quoted string: exactly that string.
     A message starting with say / repeat (after please / can you / could you / would you): the
     rest of it, without trailing ``.!?`` and "and nothing else";
   - arithmetic with digits, ``+ - * / ** ^ x ÷ ( )`` and the words plus, minus, times,
     multiplied by, divided by, to the power of: ``<expression> = <result>`` (``2 + 3 = 5``;
     words and ``x ÷ ^`` are shown as ``* / **``), up to 5 expressions joined by ``; ``; division
     by zero gives ``<expression> is undefined (division by zero)``;
   - otherwise ``You said: "<message, whitespace collapsed, first 200 characters>"`` (``...``
     when cut), plus `` (this is turn N of our conversation)`` for the N-th user message, N > 1;
     an empty message gives ``You sent an empty message.``
   Then system and developer messages apply: "only answer/respond/reply with X", "answer only
   with X" or "always answer with X" (X quoted, or up to the end of the sentence) replaces the
   reply with X; "uppercase", "upper case", "all caps" or "capital letters" upper-cases it;
   "lowercase" lower-cases it.
5. Limits (rules 1, 3 and 4): the content is cut before the earliest ``stop`` string
   (finish_reason ``stop``), then to ``max_completion_tokens`` (else ``max_tokens``) tokens, with
   finish_reason ``length`` if that removed anything (cut JSON is not valid JSON, as with real models).

The chat.completion has id ``chatcmpl-scripted-`` + 24 hex digits of a hash of the body (stream
settings excluded) and model, ``system_fingerprint`` ``fp_scripted``, one choice and ``refusal``
null. ``chat_completion_chunks`` gives the same answer as ``chat.completion.chunk`` objects with
that id: a role chunk ``{"role": "assistant", "content": ""}``, one content chunk per word (with
its trailing whitespace), for each tool call a chunk with index, id, type, name and ``arguments:
""`` followed by 8-character argument fragments, a chunk with the finish_reason and an empty
delta, and always a last chunk ``{"choices": [], "usage": {...}}``; all other chunks have
``usage: null``.

Usage: ``count_tokens`` counts words (runs of letters, digits, underscores) plus punctuation marks
and symbols, at least 1 for non-empty text. prompt_tokens = for each message count_tokens(text) +
85 per image + count_tokens(JSON of its tool calls) + 3, plus count_tokens(JSON of ``tools``).
completion_tokens = count_tokens(content), or count_tokens(JSON of the calls' name and arguments).

Filling a JSON schema (tool arguments, json_schema answers)
-----------------------------------------------------------
- ``$ref`` (JSON pointers such as ``#/$defs/X``, as pydantic writes them), ``allOf`` (merged),
  ``const``, ``type`` lists (first non-null type), schemas without ``type`` (inferred, else string).
- ``anyOf`` / ``oneOf``: the first non-null branch; if the text gives nothing for it, the
  ``default`` when there is one (e.g. null), else the branch filled with placeholders.
- object: every property; required ones are filled first, so they get the text's values first.
  Values bound to a property name are reserved beforehand. Nesting stops at depth 8 (empty
  objects and arrays below).
- integer / number: bound (``a is 3``, ``a = 3``, ``a: 3``, ``a 3``), else the next unused number
  of the text (``multiply 3 by 4`` gives a=3, b=4), else ``default``, else 1. Digits only (no
  number words); integers rounded half up; minimum / maximum / exclusive bounds clamp.
- boolean: ``<name> is true/false/yes/no/on/off``, else ``default``, else false.
- enum: the value mentioned earliest in the text (whole word, any case), else ``default``, else
  the first value.
- string: bound (``<name> is/=/:/called/named/equals X``, X quoted, a capitalised phrase or one
  word), else the next unused quoted string, else for query-like names (query, q, question, text,
  prompt, message, content, search, search_query, search_term, sentence, statement, input,
  request) the whole text (collapsed, first 200 characters), else the next capitalised phrase
  that does not start a sentence (``weather in San Francisco`` gives ``San Francisco``), else
  ``default``, else ``example <property name words>``. Known formats (date, date-time, time,
  duration, email, uri, url, uuid, ipv4, ipv6, hostname) get fixed values such as ``2024-01-01``.
  minLength / maxLength are honoured.
- array: ``prefixItems`` one by one; numeric items take the numbers listed after the property name
  (``scores 1.5 and 2.5``), else all unused numbers; enum items all mentioned values; plain
  strings all unused quoted strings. With none, ``default`` if given; else padded to max(1,
  minItems) items. Cut to maxItems.

Images: ``generate_images``
---------------------------
``prompt`` (non-empty), ``n`` 1..10 (default 1), ``size`` ``"WxH"`` (default and ``auto``:
256x256; each side capped at 1024), ``response_format`` ``b64_json`` (default) or ``url`` (a
``data:image/png;base64,`` URL). Each image is an RGB PNG with a two-colour checkerboard or stripe
pattern whose colours, cell size and kind come from sha256(prompt, index), so the n images
differ; ``revised_prompt`` is the prompt. quality, style, background, output_format are ignored.

Speech to text: ``transcribe``
------------------------------
Duration: frames / rate of a WAV file, else len(audio) / 16000 (16 kB/s), at least 1 s. Text:
``scripted transcript of <filename> (<duration, 1 decimal> s): <sentence>``, the sentence being 3
to 40 words (2 per second) picked from a fixed word list by sha256(audio). ``usage`` is ``{"type":
"duration", "seconds": max(1, ceil(duration))}`` (billing is per second). ``response_format``
``json`` or ``text`` give ``text`` and ``usage``; ``verbose_json`` adds ``task``, ``language``
(given, else ``en``), ``duration`` and one segment spanning it all. ``srt`` / ``vtt`` are rejected.

Embeddings: ``embed``
---------------------
``input``: a string, list of strings, list of token ids or list of token-id lists (1..2048).
Hashed bag of words: lower-case, split on non-alphanumerics, drop stopwords and one trailing "s";
each word adds ``sign * (1 + ln tf)`` to bucket ``sha256(word) mod dimensions`` (sign from the
hash); the vector is L2-normalised. Token ids are features of their own; text without words is
hashed whole. Texts sharing words have a high cosine, unrelated texts are nearly orthogonal.
``dimensions``: the body's, else the argument (default 256), 1..4096. ``encoding_format``
``base64`` gives base64 of little-endian float32. Usage: count_tokens per text, or the number of ids.

What it cannot do
-----------------
Understand, reason or follow any instruction not listed above; call a tool twice in one answer or
call tools after tool results; follow ReAct-style text protocols; give logprobs, several choices
(n > 1), audio output or refusals; honour ``pattern``, ``uniqueItems``, ``multipleOf``,
``minProperties``, ``patternProperties``, ``if`` / ``then`` or ``not`` in schemas; draw the prompt
(images are hashed patterns); recognise speech (transcripts are hashed words); embed meaning (only
shared words bring texts together: no synonyms, no word order).
"""

from __future__ import annotations

from ._chat import chat_completion, chat_completion_chunks
from ._common import ScriptedModelError, count_tokens
from ._embed import embed
from ._media import generate_images, transcribe

__all__ = [
    "ScriptedModelError",
    "chat_completion",
    "chat_completion_chunks",
    "count_tokens",
    "embed",
    "generate_images",
    "transcribe",
]
