/* test_grammar.c: the JSON-Schema grammar engine (src/grammar/). Per keyword, accept/reject pairs
 * through the byte matcher; compile errors that name the keyword and its JSON pointer; bounds on
 * hostile schemas; and, with the real tokenizer (GPTOSS_SHARED/vocab/tokenizer.json, skipped when
 * absent), that every mask bit agrees with advancing by that token, and texts checked token by token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptoss.h"
#include "tap.h"

typedef struct gcase {
    const char *schema, *text;
    int accept;
} gcase;

static const gcase CASES[] = {
    /* type */
    {"{\"type\":\"string\"}", "\"abc\"", 1},
    {"{\"type\":\"string\"}", "12", 0},
    {"{\"type\":\"integer\"}", "-12", 1},
    {"{\"type\":\"integer\"}", "1.5", 0},
    /* drafts 6 on: a zero fraction is still an integer; drafts 3 and 4: not */
    {"{\"type\":\"integer\"}", "1.0", 1},
    {"{\"type\":\"integer\"}", "-0.0", 1},
    {"{\"type\":\"integer\"}", "12.000", 1},
    {"{\"type\":\"integer\"}", "1.01", 0},
    {"{\"type\":\"integer\"}", "1.", 0},
    {"{\"type\":\"integer\"}", "1.0.0", 0},
    {"{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"type\":\"integer\"}", "1.0", 0},
    {"{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"type\":\"integer\"}", "1", 1},
    {"{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"type\":\"integer\"}", "1.0", 1},
    {"{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}", "10.0", 1},
    {"{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}", "10.00", 1},
    {"{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}", "11.0", 0},
    {"{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}", "0.0", 0},
    {"{\"type\":\"integer\",\"minimum\":0}", "-0.0", 1},
    {"{\"type\":\"integer\",\"minimum\":0}", "-1.0", 0},
    {"{\"type\":\"integer\",\"exclusiveMaximum\":10}", "10.0", 0},
    {"{\"type\":\"integer\",\"exclusiveMaximum\":10}", "9.0", 1},
    {"{\"type\":\"integer\",\"multipleOf\":3}", "12.0", 1},
    {"{\"type\":\"integer\",\"multipleOf\":3}", "13.0", 0},
    {"{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}}", "{\"n\": 2.0}", 1},
    {"{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}}", "{\"n\": 2.5}", 0},
    {"{\"type\":\"number\"}", "-1.5e3", 1},
    {"{\"type\":\"number\"}", "01", 0},
    {"{\"type\":\"number\"}", "1.", 0},
    {"{\"type\":\"boolean\"}", "true", 1},
    {"{\"type\":\"boolean\"}", "tru", 0},
    {"{\"type\":\"null\"}", "null", 1},
    {"{\"type\":[\"string\",\"null\"]}", "null", 1},
    {"{\"type\":[\"string\",\"null\"]}", "false", 0},
    {"{\"type\":\"string\",\"nullable\":true}", "null", 1},
    {"{}", "[1,{\"a\":[null]},\"x\"]", 1},
    {"{}", "[1,]", 0},
    {"{\"type\":\"string\"}", " \"x\" \n", 1},
    {"{\"type\":\"string\"}", "\"a\\u00e9\\n\"", 1},
    {"{\"type\":\"string\"}", "\"a\\q\"", 0},
    {"{\"type\":\"string\"}", "\"\xc3\"", 0},
    /* enum / const */
    {"{\"enum\":[\"red\",\"green\",1,null]}", "\"green\"", 1},
    {"{\"enum\":[\"red\",\"green\",1,null]}", "\"blue\"", 0},
    {"{\"enum\":[\"red\",\"green\",1,null]}", "1", 1},
    {"{\"enum\":[\"red\",\"green\",1,null]}", "12", 0},
    {"{\"enum\":[[1,2],{\"a\":1}]}", "[1, 2]", 1},
    {"{\"enum\":[[1,2],{\"a\":1}]}", "{ \"a\" : 1 }", 1},
    {"{\"enum\":[[1,2],{\"a\":1}]}", "[1 2]", 0},
    {"{\"const\":\"x\"}", "\"x\"", 1},
    {"{\"const\":1}", "1.0", 1},
    {"{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"type\":\"integer\",\"enum\":[1,2.0]}", "1.0", 0},
    {"{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"type\":\"integer\",\"enum\":[1,2.0]}", "2", 1},
    {"{\"$schema\":\"http://json-schema.org/draft-06/schema#\",\"type\":\"integer\",\"enum\":[1,2.0]}", "2.0", 1},
    {"{\"const\":1}", "1.", 0},
    {"{\"const\":1}", "1.05", 0},
    {"{\"const\":1}", "1.0e1", 0},
    {"{\"enum\":[1.5]}", "1.5.0", 0},
    {"{\"enum\":[[1,2]]}", "[1.00, 2.0 ]", 1},
    {"{\"enum\":[10,1]}", "1.0", 1},
    {"{\"const\":\"x\"}", "\"y\"", 0},
    /* strings in enum/const compare decoded: any character may be written escaped */
    {"{\"enum\":[\"a\\\"b\",\"\xc3\xa9\",\"\\n\",\"x/\"]}", "\"\\u0061\\u0022b\"", 1},
    {"{\"enum\":[\"a\\\"b\",\"\xc3\xa9\",\"\\n\",\"x/\"]}", "\"\\u00e9\"", 1},
    {"{\"enum\":[\"a\\\"b\",\"\xc3\xa9\",\"\\n\",\"x/\"]}", "\"\\u00E9\"", 1},
    {"{\"enum\":[\"a\\\"b\",\"\xc3\xa9\",\"\\n\",\"x/\"]}", "\"\\u000A\"", 1},
    {"{\"enum\":[\"a\\\"b\",\"\xc3\xa9\",\"\\n\",\"x/\"]}", "\"x\\/\"", 1},
    {"{\"enum\":[\"a\\\"b\",\"\xc3\xa9\",\"\\n\",\"x/\"]}", "\"\\u00e8\"", 0},
    {"{\"enum\":[\"a\\\"b\",\"\xc3\xa9\",\"\\n\",\"x/\"]}", "\"\\r\"", 0},
    {"{\"enum\":[\"a\\\"b\",\"\xc3\xa9\",\"\\n\",\"x/\"]}", "\"a\\\"\"", 0},
    {"{\"enum\":[\"ab\",\"ac\"]}", "\"a\\u0064\"", 0},
    {"{\"const\":\"\xf0\x9f\x98\x80\"}", "\"\\ud83d\\ude00\"", 1},
    {"{\"const\":\"\xf0\x9f\x98\x80\"}", "\"\\ud83d\"", 0},
    {"{\"const\":\"\xf0\x9f\x98\x80\"}", "\"\\ud83d\\ude01\"", 0},
    {"{\"const\":\"\\u0001\"}", "\"\\u0001\"", 1},
    {"{\"const\":{\"k\\\"\":[\"\\t\"]}}", "{\"k\\u0022\": [\"\\u0009\"]}", 1},
    /* an object in enum/const equals itself with its members in any order */
    {"{\"const\":{\"foo\":\"bar\",\"baz\":\"bax\"}}", "{\"baz\": \"bax\", \"foo\": \"bar\"}", 1},
    {"{\"const\":{\"foo\":\"bar\",\"baz\":\"bax\"}}", "{\"foo\": \"bar\", \"baz\": \"bax\"}", 1},
    {"{\"const\":{\"foo\":\"bar\",\"baz\":\"bax\"}}", "{\"baz\": \"bax\"}", 0},
    {"{\"const\":{\"foo\":\"bar\",\"baz\":\"bax\"}}", "{\"baz\": \"bax\", \"foo\": \"bar\", \"x\": 1}", 0},
    {"{\"const\":{\"foo\":\"bar\",\"baz\":\"bax\"}}", "{\"baz\": \"bar\", \"foo\": \"bax\"}", 0},
    {"{\"const\":{\"foo\":\"bar\",\"baz\":\"bax\"}}", "{\"baz\": \"bax\", \"baz\": \"bax\"}", 0},
    {"{\"enum\":[{\"a\":{\"x\":1,\"y\":2},\"b\":[{\"c\":1,\"d\":[]}]},3]}", "{\"b\":[{\"d\":[],\"c\":1.0}],\"a\":{\"y\":2,\"x\":1}}", 1},
    {"{\"enum\":[{\"a\":{\"x\":1,\"y\":2},\"b\":[{\"c\":1,\"d\":[]}]},3]}", "{\"b\":[{\"d\":[],\"c\":1}],\"a\":{\"y\":1,\"x\":2}}", 0},
    {"{\"const\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6}}", "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6}", 1},
    {"{\"const\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}}", "{\"e\":5,\"d\":4,\"c\":3,\"b\":2,\"a\":1}", 1},
    {"{\"type\":\"string\",\"enum\":[\"a\",1]}", "1", 0},
    /* objects */
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},\"required\":[\"a\"]}", "{\"a\": 1, \"b\": \"x\"}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},\"required\":[\"a\"]}", "{\"b\": \"x\"}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}", "{\"a\": \"x\"}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}", "{\"z\": [true]}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"z\": 1}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"a\": 1, \"a\": 2}", 0},
    {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}", "{\"x\": 1, \"y\": 2}", 1},
    {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}", "{\"x\": \"1\"}", 0},
    {"{\"type\":\"object\",\"minProperties\":2}", "{\"x\": 1}", 0},
    {"{\"type\":\"object\",\"maxProperties\":1}", "{\"x\": 1, \"y\": 1}", 0},
    {"{\"type\":\"object\"}", "{}", 1},
    {"{\"properties\":{\"a\":{\"type\":\"integer\"}}}", "\"not an object\"", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\",\"enum\":[\"x\"]}}}", "{\"b\": 1}", 1},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\",\"enum\":[\"x\"]}}}", "{\"a\": \"x\"}", 0},
    {"{\"$defs\":{\"u\":{\"type\":\"array\",\"enum\":[\"x\"]}},\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/u\"},\"b\":{\"$ref\":\"#/$defs/u\"}}}", "{\"b\": [1]}", 0},
    /* keys written with escapes name the property they decode to */
    {"{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"\\u0061b\": 1}", 1},
    {"{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"a\\u0062\": 1}", 1},
    {"{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"\\u0061b\": \"x\"}", 0},
    {"{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"\\u0041b\": 1}", 0},
    {"{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"\\u0061\": 1}", 0},
    {"{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"\\u00g1b\": 1}", 0},
    {"{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"\\qb\": 1}", 0},
    {"{\"type\":\"object\",\"properties\":{\"j\":{}},\"additionalProperties\":false}", "{\"\\u006A\": 1}", 1},
    {"{\"type\":\"object\",\"properties\":{\"j\":{}},\"additionalProperties\":false}", "{\"\\u006a\": 1}", 1},
    {"{\"properties\":{\"a\\\"b\":{\"type\":\"integer\"},\"a/b\":{\"type\":\"integer\"},\"a\\\\b\":{\"type\":\"integer\"},\"a\\nb\":{\"type\":\"integer\"},\"a\\tb\":{\"type\":\"integer\"}},\"additionalProperties\":false}",
     "{\"a\\\"b\": 1, \"a\\/b\": 2, \"a\\\\b\": 3, \"a\\nb\": 4, \"a\\u0009b\": 5}", 1},
    {"{\"properties\":{\"a\\\"b\":{\"type\":\"integer\"},\"a/b\":{\"type\":\"integer\"},\"a\\\\b\":{\"type\":\"integer\"},\"a\\nb\":{\"type\":\"integer\"},\"a\\tb\":{\"type\":\"integer\"}},\"additionalProperties\":false}",
     "{\"a\\nb\": \"x\"}", 0},
    {"{\"properties\":{\"a\\nb\":{\"type\":\"integer\"}}}", "{\"a\\u000Ab\": \"x\"}", 0},
    {"{\"properties\":{\"a\\nb\":{\"type\":\"integer\"}}}", "{\"a\\u000Bb\": \"x\"}", 1},
    {"{\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"string\"}}", "{\"\\u0061\": \"x\"}", 0},
    {"{\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"string\"}}", "{\"\\u0062\": \"x\"}", 1},
    {"{\"properties\":{\"a\":{}},\"additionalProperties\":false}", "{\"a\": 1, \"\\u0061\": 2}", 0},
    {"{\"required\":[\"a\"]}", "{\"\\u0061\": 1}", 1},
    {"{\"required\":[\"a\"]}", "{\"\\u0062\": 1}", 0},
    {"{\"properties\":{\"\xc3\xa9\\u00e9\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"\\u00E9\xc3\xa9\": 1}", 1},
    {"{\"properties\":{\"\xf0\x9f\x98\x80\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"\\ud83d\\ude00\": 1}", 1},
    {"{\"properties\":{\"\xf0\x9f\x98\x80\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"\\uD83D\\uDE00\": 1}", 1},
    {"{\"properties\":{\"\xf0\x9f\x98\x80\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"\\ud83d\\ude01\": 1}", 0},
    {"{\"properties\":{\"\xf0\x9f\x98\x80\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"\\ud83d\": 1}", 0},
    {"{\"properties\":{\"\xf0\x9f\x98\x80\":{\"type\":\"integer\"}}}", "{\"\\ud83d\": 1}", 0},
    {"{\"properties\":{\"\xf0\x9f\x98\x80\":{\"type\":\"integer\"}}}", "{\"\\ude00\": 1}", 0},
    {"{\"properties\":{\"\xf0\x9f\x98\x80\":{\"type\":\"integer\"}}}", "{\"\\ud83dx\": 1}", 0},
    {"{\"properties\":{\"\xf0\x9f\x98\x80\":{\"type\":\"integer\"}}}", "{\"\\ud83d\\n\": 1}", 0},
    {"{\"properties\":{\"\xf0\x9f\x98\x80\":{\"type\":\"integer\"}}}", "{\"\\ud83d\\ude00\": \"x\"}", 0},
    {"{\"properties\":{\"\xf0\x9f\x98\x80\":{\"type\":\"integer\"}}}", "{\"\\ud83d\\ude01\": \"x\"}", 1},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"\\u0078-a\": 1}", 1},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"\\u0078-a\": \"s\"}", 0},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"\\u0079-a\": 1}", 0},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}}}", "{\"x\\u002d\": \"s\"}", 0},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}}}", "{\"x\\u002e\": \"s\"}", 1},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}}}", "{\"\\ud83d\\ude00\": \"s\"}", 1},
    {"{\"type\":\"object\"}", "{\"field\\\": \": [1], \"e\\\": null, // x\": 2}", 1},
    /* patternProperties */
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"x-a\": 1, \"x-b\": 2}", 1},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"y\": 1}", 0},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},\"additionalProperties\":false}", "{\"x-a\": \"s\"}", 0},
    {"{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}}}", "{\"y\": \"s\"}", 1},
    {"{\"type\":\"object\",\"properties\":{\"x-n\":{\"minimum\":5}},\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}}}", "{\"x-n\": 7}", 1},
    {"{\"type\":\"object\",\"properties\":{\"x-n\":{\"minimum\":5}},\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}}}", "{\"x-n\": 7.5}", 0},
    {"{\"type\":\"object\",\"patternProperties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"minimum\":3}}}", "{\"ab\": 2}", 0},
    {"{\"type\":\"object\",\"patternProperties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"minimum\":3}}}", "{\"ab\": 4, \"b\": 3.5}", 1},
    /* arrays */
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}", "[1, 2, 3]", 1},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}", "[1, \"2\"]", 0},
    {"{\"type\":\"array\",\"minItems\":2,\"maxItems\":3}", "[1]", 0},
    {"{\"type\":\"array\",\"minItems\":2,\"maxItems\":3}", "[1,2,3]", 1},
    {"{\"type\":\"array\",\"minItems\":2,\"maxItems\":3}", "[1,2,3,4]", 0},
    {"{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":false}", "[\"a\", 1]", 1},
    {"{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":false}", "[\"a\", 1, 2]", 0},
    {"{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"}],\"items\":{\"type\":\"integer\"}}", "[\"a\", 2, 3]", 1},
    {"{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"}],\"items\":{\"type\":\"integer\"}}", "[1]", 0},
    {"{\"type\":\"array\",\"contains\":{\"type\":\"string\"}}", "[1, \"a\", 2]", 1},
    {"{\"type\":\"array\",\"contains\":{\"type\":\"string\"}}", "[1, 2]", 0},
    {"{\"type\":\"array\",\"contains\":{\"type\":\"string\"}}", "[]", 0},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"contains\":{\"minimum\":5},\"minContains\":2}", "[5, 1, 7]", 1},
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"contains\":{\"minimum\":5},\"minContains\":2}", "[5, 1, 4]", 0},
    {"{\"type\":\"array\",\"contains\":{\"type\":\"string\"},\"minContains\":0}", "[]", 1},
    /* strings */
    {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"a\"", 0},
    {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"abc\"", 1},
    {"{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", "\"abcd\"", 0},
    {"{\"type\":\"string\",\"maxLength\":2}", "\"\xc3\xa9\xc3\xa9\"", 1},
    {"{\"type\":\"string\",\"minLength\":2}", "\"\\ud83d\\ude00\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^[a-z]+[0-9]{2}$\"}", "\"abc12\"", 1},
    {"{\"type\":\"string\",\"pattern\":\"^[a-z]+[0-9]{2}$\"}", "\"abc123\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"ab\"}", "\"xxabyy\"", 1},
    {"{\"type\":\"string\",\"pattern\":\"ab\"}", "\"xxa\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^.{2}$\"}", "\"\xc3\xa9x\"", 1},
    {"{\"type\":\"string\",\"pattern\":\"^.{2}$\"}", "\"\xc3\xa9xy\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^(?:cat|dog)s?$\"}", "\"dogs\"", 1},
    {"{\"type\":\"string\",\"pattern\":\"^\\\\d+\\\\.\\\\d+$\"}", "\"1.5\"", 1},
    {"{\"type\":\"string\",\"pattern\":\"^\\\\d+\\\\.\\\\d+$\"}", "\"1x5\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^[^\\\"]*$\"}", "\"a\\\"b\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^x{,2}a{2}{$\"}", "\"x{,2}aa{\"", 1},
    {"{\"type\":\"string\",\"pattern\":\"(a+)+$\"}", "\"baaaa\"", 1},
    /* a surrogate pair is one character to a pattern, as the raw UTF-8 is */
    {"{\"type\":\"string\",\"pattern\":\"^\xf0\x9f\x98\x80+$\"}", "\"\\ud83d\\ude00\\uD83D\\uDE00\xf0\x9f\x98\x80\"", 1},
    {"{\"type\":\"string\",\"pattern\":\"^\xf0\x9f\x98\x80+$\"}", "\"\\ud83d\\ude01\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^.+$\"}", "\"\\ud83d\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^.+$\"}", "\"\\ud83dx\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^.+$\"}", "\"\\ud83d\\n\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^.+$\"}", "\"\\ude00\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^.{2}$\",\"maxLength\":2}", "\"\\ud83d\\ude00a\"", 1},
    {"{\"type\":\"string\",\"pattern\":\"^.{2}$\",\"maxLength\":1}", "\"\\ud83d\\ude00a\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^.*$\",\"minLength\":2}", "\"\\ud83d\\ude00\"", 0},
    {"{\"type\":\"string\",\"pattern\":\"^(a+)+$\"}", "\"aaaab\"", 0},
    {"{\"type\":\"string\",\"format\":\"date\"}", "\"2024-02-29\"", 1},
    {"{\"type\":\"string\",\"format\":\"date\"}", "\"2024-02-30\"", 0},
    {"{\"type\":\"string\",\"format\":\"date-time\"}", "\"2024-01-02T03:04:05.5Z\"", 1},
    {"{\"type\":\"string\",\"format\":\"time\"}", "\"25:00:00Z\"", 0},
    {"{\"type\":\"string\",\"format\":\"email\"}", "\"a.b@example.com\"", 1},
    {"{\"type\":\"string\",\"format\":\"email\"}", "\"example.com\"", 0},
    {"{\"type\":\"string\",\"format\":\"uuid\"}", "\"123e4567-e89b-12d3-a456-426614174000\"", 1},
    {"{\"type\":\"string\",\"format\":\"ipv4\"}", "\"192.168.0.256\"", 0},
    {"{\"type\":\"string\",\"format\":\"ipv6\"}", "\"::1\"", 1},
    {"{\"type\":\"string\",\"format\":\"hostname\"}", "\"-bad.com\"", 0},
    {"{\"type\":\"string\",\"format\":\"uri\"}", "\"https://x.org/a?b=c\"", 1},
    {"{\"type\":\"string\",\"format\":\"int32\"}", "\"anything\"", 1},
    {"{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"format\":\"date\"}", "\"06/19/1963\"", 1},
    {"{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"format\":\"date\"}", "\"06/19/1963\"", 0},
    /* numbers */
    {"{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}", "10", 1},
    {"{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}", "11", 0},
    {"{\"type\":\"integer\",\"minimum\":1,\"maximum\":10}", "0", 0},
    {"{\"type\":\"integer\",\"exclusiveMaximum\":10}", "10", 0},
    {"{\"type\":\"integer\",\"exclusiveMinimum\":-3}", "-2", 1},
    {"{\"type\":\"integer\",\"exclusiveMinimum\":-3}", "-3", 0},
    {"{\"type\":\"number\",\"maximum\":1.5}", "1.5", 1},
    {"{\"type\":\"number\",\"maximum\":1.5}", "1.50001", 0},
    {"{\"type\":\"number\",\"minimum\":0}", "-0.0", 1},
    {"{\"type\":\"number\",\"minimum\":0}", "-0.1", 0},
    {"{\"type\":\"number\",\"maximum\":5,\"exclusiveMaximum\":true}", "5", 0},
    {"{\"type\":\"integer\",\"maximum\":9007199254740993}", "9007199254740993", 1},
    {"{\"type\":\"integer\",\"multipleOf\":3}", "12", 1},
    {"{\"type\":\"integer\",\"multipleOf\":3}", "13", 0},
    /* not: the exact forms */
    {"{\"not\":{\"type\":\"null\"}}", "null", 0},
    {"{\"not\":{\"type\":\"null\"}}", "[null]", 1},
    {"{\"type\":[\"string\",\"integer\"],\"not\":{\"type\":\"string\"}}", "\"x\"", 0},
    {"{\"type\":\"object\",\"not\":{\"required\":[\"a\"]}}", "{\"b\": 1}", 1},
    {"{\"type\":\"object\",\"not\":{\"required\":[\"a\"]}}", "{\"b\": 1, \"a\": 2}", 0},
    {"{\"type\":\"object\",\"properties\":{\"a\":{}},\"not\":{\"required\":[\"a\"]}}", "{\"a\": 2}", 0},
    /* enum/const values checked against the whole schema (any keyword) */
    {"{\"allOf\":[{\"enum\":[1,2,3]},{\"not\":{\"const\":2}}]}", "2", 0},
    {"{\"allOf\":[{\"enum\":[1,2,3]},{\"not\":{\"const\":2}}]}", "3", 1},
    {"{\"enum\":[1,\"a\",[1,1]],\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"string\"}]}", "\"a\"", 1},
    {"{\"enum\":[1,\"a\",[1,1]],\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"string\"}]}", "[1,1]", 0},
    {"{\"enum\":[[1,1],[1,2]],\"uniqueItems\":true}", "[1,1]", 0},
    {"{\"enum\":[[1,1],[1,2]],\"uniqueItems\":true}", "[1,2]", 1},
    {"{\"const\":{\"a\":5},\"if\":{\"properties\":{\"a\":{\"minimum\":3}}},\"then\":{\"required\":[\"b\"]}}", "{\"a\":5}", -1},
    {"{\"enum\":[\"a@b.c\",\"nope\"],\"format\":\"email\"}", "\"nope\"", 0},
    {"{\"type\":\"string\",\"not\":{\"required\":[\"a\"]}}", "\"x\"", -1},
    {"{\"not\":{\"required\":[\"a\"]}}", "5", 0},
    {"{\"not\":{\"anyOf\":[{\"type\":\"string\"},{\"required\":[\"a\"]}]}}", "{\"b\": \"s\"}", 1},
    {"{\"not\":{\"anyOf\":[{\"type\":\"string\"},{\"required\":[\"a\"]}]}}", "{\"a\": \"s\"}", 0},
    {"{\"allOf\":[{\"not\":{\"required\":[\"a\"]}},{\"not\":{\"required\":[\"b\"]}}]}", "{\"b\": 1}", 0},
    {"{\"allOf\":[{\"not\":{\"required\":[\"a\"]}},{\"not\":{\"required\":[\"b\"]}}]}", "{\"c\": 1}", 1},
    /* combinators and refs */
    {"{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "5", 1},
    {"{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "true", 0},
    {"{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"string\"}},\"required\":[\"b\"],\"additionalProperties\":false}]}", "{\"b\": \"x\"}", 1},
    {"{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"string\"}},\"required\":[\"b\"],\"additionalProperties\":false}]}", "{\"b\": 1}", 0},
    {"{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}", "null", 1},
    {"{\"oneOf\":[{\"properties\":{\"k\":{\"const\":\"a\"},\"v\":{\"type\":\"integer\"}},\"required\":[\"k\"],\"type\":\"object\"},{\"properties\":{\"k\":{\"const\":\"b\"}},\"required\":[\"k\"],\"type\":\"object\"}]}", "{\"k\":\"a\",\"v\":\"x\"}", 0},
    {"{\"type\":\"object\",\"oneOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}]}", "{\"a\": 1}", 1},
    {"{\"type\":\"object\",\"oneOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}]}", "{\"a\": 1, \"b\": 2}", 0},
    {"{\"type\":\"object\",\"oneOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}]}", "{\"c\": 1}", 0},
    {"{\"oneOf\":[{\"type\":\"number\"},{\"type\":\"string\"},{\"type\":[\"string\",\"null\"]}]}", "null", 1},
    {"{\"oneOf\":[{\"type\":\"number\"},{\"type\":\"string\"},{\"type\":[\"string\",\"null\"]}]}", "\"s\"", 0},
    {"{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},{\"properties\":{\"b\":{\"type\":\"string\"}},\"required\":[\"b\"]}]}", "{\"a\": 1, \"b\": \"x\"}", 1},
    {"{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},{\"properties\":{\"b\":{\"type\":\"string\"}},\"required\":[\"b\"]}]}", "{\"a\": 1}", 0},
    {"{\"allOf\":[{\"type\":\"integer\",\"minimum\":0},{\"maximum\":3}]}", "4", 0},
    {"{\"allOf\":[{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\"}]},{\"anyOf\":[{\"type\":\"integer\",\"minimum\":5},{\"type\":\"string\",\"maxLength\":1}]}]}", "7", 1},
    {"{\"allOf\":[{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\"}]},{\"anyOf\":[{\"type\":\"integer\",\"minimum\":5},{\"type\":\"string\",\"maxLength\":1}]}]}", "\"ab\"", 0},
    {"{\"allOf\":[{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\"}]},{\"anyOf\":[{\"type\":\"integer\",\"minimum\":5},{\"type\":\"string\",\"maxLength\":1}]}]}", "3", 0},
    {"{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"next\":{\"$ref\":\"#/$defs/n\"}},\"required\":[\"v\"]}},\"$ref\":\"#/$defs/n\"}", "{\"v\":1,\"next\":{\"v\":2,\"next\":{\"v\":3}}}", 1},
    {"{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"next\":{\"$ref\":\"#/$defs/n\"}},\"required\":[\"v\"]}},\"$ref\":\"#/$defs/n\"}", "{\"v\":1,\"next\":{\"next\":{\"v\":3}}}", 0},
    {"{\"definitions\":{\"s\":{\"type\":\"string\"}},\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/s\"}}", "[\"a\"]", 1},
    {"{\"definitions\":{\"s\":{\"type\":\"string\"}},\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/s\"}}", "[1]", 0},
};

static const char *const ERRORS[][2] = {
    {"{\"properties\":{\"a\":{\"not\":{\"minimum\":3}}}}", "unsupported keyword 'not' at /properties/a"},
    {"{\"not\":{}}", "unsatisfiable schema: 'not'"},
    {"{\"type\":\"number\",\"not\":{\"type\":\"integer\"}}", "unsupported keyword 'not' (integer out of number)"},
    {"{\"if\":{},\"then\":{}}", "unsupported keyword 'if' at "},
    {"{\"properties\":{\"a~b\":{\"dependentSchemas\":{}}}}", "unsupported keyword 'dependentSchemas' at /properties/a~0b"},
    {"{\"items\":{\"patternProperties\":{\"^x\":{},\"y\":{},\"z\":{}}}}", "unsupported keyword 'patternProperties' (more than 2 patterns) at /items"},
    {"{\"type\":\"string\",\"pattern\":\"(?=a)\"}", "keyword 'pattern' at : unsupported pattern: lookaround"},
    {"{\"$ref\":\"#/$defs/missing\"}", "unresolvable '$ref'"},
    {"{\"$ref\":\"http://example.com/s.json\"}", "unsupported keyword '$ref'"},
    {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}", "unsupported keyword 'oneOf' (alternatives 0 and 1 may overlap)"},
    {"{\"type\":\"string\",\"minLength\":3,\"maxLength\":2}", "unsatisfiable schema: 'minLength' > 'maxLength'"},
    {"{\"allOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", "unsatisfiable schema"},
    {"false", "unsatisfiable schema: false at "},
    {"{\"type\":\"integer\",\"multipleOf\":0.5}", "unsupported keyword 'multipleOf'"},
    {"{\"properties\":{\"r\":{\"type\":\"string\",\"format\":\"regex\"}}}", "unsupported keyword 'format' (\"regex\") at /properties/r"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":[\"b\"],\"additionalProperties\":false}", "unsatisfiable schema: required property 'b'"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\",\"enum\":[\"x\"]}},\"required\":[\"a\"]}", "unsatisfiable schema: required property 'a' is false"},
    {"{\"type\":\"string\",\"pattern\":\"^(a{1,900}){1,900}$\"}", "pattern"},
    {"{\"enum\":[\"x\"],\"format\":\"regex\"}", "'enum' value 0 cannot be checked"},
    /* a braced quantifier after a quantifier is ECMA's "nothing to repeat", not literal text */
    {"{\"type\":\"string\",\"pattern\":\"a{1000}{1000}\"}", "nothing to repeat"},
    {"{\"type\":\"string\",\"pattern\":\"^a{2}{3}$\"}", "nothing to repeat"},
    {"{\"type\":\"string\",\"pattern\":\"({2})\"}", "nothing to repeat"},
    {"{\"type\":\"string\",\"pattern\":\"^(a{1,1000}){1,1000}$\"}", "pattern too large"},
    {"{\"$defs\":{\"a\":{\"allOf\":[{\"$ref\":\"#/$defs/b\"},{\"type\":\"object\"}]},\"b\":{\"allOf\":[{\"$ref\":\"#/$defs/a\"}]}},\"$ref\":\"#/$defs/a\"}", "nested too deeply"},
};

static int check_bytes(const gptoss_grammar *g, const char *text) {
    gptoss_grammar_state *s = NULL;
    if (gptoss_grammar_state_create(g, &s) != GPTOSS_OK) return -1;
    int ok = gptoss_grammar_state_advance_bytes(s, text, strlen(text)) == GPTOSS_OK && gptoss_grammar_state_is_complete(s);
    gptoss_grammar_state_free(s);
    return ok;
}

static int hexd(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes the JSON string body p[0..n) to code points (surrogate pairs joined); -1 when it has a
 * bad escape, a lone surrogate or a raw byte that is not whole UTF-8. */
static int decode_body(const char *p, size_t n, unsigned *cps, size_t *nc) {
    size_t i = 0, k = 0;
    while (i < n) {
        unsigned c = (unsigned char)p[i];
        if (c == '\\') {
            if (i + 1 >= n) return -1;
            const char *e = strchr("\"\\/bfnrt", p[i + 1]);
            if (p[i + 1] != 'u') {
                if (!e || !p[i + 1]) return -1;
                cps[k++] = (unsigned)"\"\\/\b\f\n\r\t"[e - "\"\\/bfnrt"];
                i += 2;
                continue;
            }
            unsigned u = 0;
            for (int d = 0; d < 4; d++) {
                int h = i + 2 + (size_t)d < n ? hexd(p[i + 2 + d]) : -1;
                if (h < 0) return -1;
                u = u * 16 + (unsigned)h;
            }
            i += 6;
            if (u >= 0xDC00 && u <= 0xDFFF) return -1;
            if (u >= 0xD800 && u <= 0xDBFF) {
                unsigned lo = 0;
                if (i + 6 > n || p[i] != '\\' || p[i + 1] != 'u') return -1;
                for (int d = 0; d < 4; d++) {
                    int h = hexd(p[i + 2 + d]);
                    if (h < 0) return -1;
                    lo = lo * 16 + (unsigned)h;
                }
                if (lo < 0xDC00 || lo > 0xDFFF) return -1;
                i += 6;
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            }
            cps[k++] = u;
            continue;
        }
        int len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
        if (!len || i + (size_t)len > n) return -1;
        unsigned cp = len == 1 ? c : c & (0xFFu >> (len + 1));
        for (int d = 1; d < len; d++) cp = cp << 6 | ((unsigned char)p[i + d] & 63);
        cps[k++] = cp;
        i += (size_t)len;
    }
    *nc = k;
    return 0;
}

/* text with every object key's characters rewritten as backslash-u escapes (hex case alternating,
 * surrogate pairs above the BMP); keys that do not decode are kept. */
static char *escape_keys(const char *text) {
    size_t n = strlen(text), o = 0;
    char *out = malloc(n * 24 + 1);
    unsigned *cps = malloc((n + 1) * sizeof *cps);
    for (size_t i = 0; i < n;) {
        if (text[i] != '"') {
            out[o++] = text[i++];
            continue;
        }
        size_t j = i + 1;
        while (j < n && text[j] != '"') j += text[j] == '\\' ? 2 : 1;
        size_t after = j + 1;
        while (after < n && strchr(" \t\r\n", text[after])) after++;
        size_t nc = 0;
        if (j < n && after < n && text[after] == ':' && decode_body(text + i + 1, j - i - 1, cps, &nc) == 0) {
            out[o++] = '"';
            for (size_t k = 0; k < nc; k++) {
                const char *fmt = k % 2 ? "\\u%04X" : "\\u%04x";
                if (cps[k] >= 0x10000) {
                    unsigned v = cps[k] - 0x10000;
                    o += (size_t)sprintf(out + o, fmt, 0xD800 + (v >> 10));
                    o += (size_t)sprintf(out + o, fmt, 0xDC00 + (v & 0x3FF));
                } else {
                    o += (size_t)sprintf(out + o, fmt, cps[k]);
                }
            }
            out[o++] = '"';
        } else {
            size_t end = j < n ? j + 1 : n;
            memcpy(out + o, text + i, end - i);
            o += end - i;
        }
        i = j < n ? j + 1 : n;
    }
    out[o] = 0;
    free(cps);
    return out;
}

/* Every mask bit (a sample of ids plus the text's own tokens) equals "advance by that id works". */
static int mask_agrees(gptoss_grammar_state *s, const gptoss_grammar_vocab *v, uint32_t *bits, const uint32_t *extra, size_t n_extra) {
    if (gptoss_grammar_state_mask(s, bits) != GPTOSS_OK) return 0;
    uint32_t nv = gptoss_grammar_vocab_mask_words(v) * 32;
    for (uint32_t id = 0; id < nv + n_extra; id += id < nv ? 61 : 1) {
        uint32_t t = id < nv ? id : extra[id - nv];
        if (t >= 201088) continue;
        gptoss_grammar_state *c = NULL;
        if (gptoss_grammar_state_clone(s, &c) != GPTOSS_OK) return 0;
        int adv = gptoss_grammar_state_advance(c, t) == GPTOSS_OK;
        gptoss_grammar_state_free(c);
        if (adv != (int)(bits[t / 32] >> (t % 32) & 1)) {
            tap_diag("token %u: mask %u, advance %d", t, bits[t / 32] >> (t % 32) & 1, adv);
            return 0;
        }
        if (id >= nv && id - nv + 1 >= n_extra) break;
    }
    return 1;
}

int main(void) {
    char err[1024];
    size_t n_cases = sizeof CASES / sizeof CASES[0];
    int bad = 0;
    for (size_t i = 0; i < n_cases; i++) {
        gptoss_grammar *g = NULL;
        err[0] = 0;
        gptoss_status st = gptoss_grammar_compile_json_schema(NULL, CASES[i].schema, strlen(CASES[i].schema), NULL, &g, err, sizeof err);
        int got = st == GPTOSS_OK ? check_bytes(g, CASES[i].text) : -1; /* -1 expected: unsatisfiable */
        if (got != CASES[i].accept) {
            tap_diag("schema %s text %s: expected %s, got %s %s", CASES[i].schema, CASES[i].text, CASES[i].accept ? "accept" : "reject",
                     got < 0 ? "compile error" : got ? "accept" : "reject", err);
            bad++;
        }
        gptoss_grammar_free(g);
    }
    tap_check(bad == 0, "grammar: %zu accept/reject pairs per keyword through the byte matcher", n_cases);
    /* any key character may be written escaped: every case gives the same answer with each of its
     * keys rewritten as backslash-u escapes */
    bad = 0;
    size_t n_changed = 0;
    for (size_t i = 0; i < n_cases; i++) {
        gptoss_grammar *g = NULL;
        if (gptoss_grammar_compile_json_schema(NULL, CASES[i].schema, strlen(CASES[i].schema), NULL, &g, err, sizeof err) != GPTOSS_OK) continue;
        char *esc = escape_keys(CASES[i].text);
        if (strcmp(esc, CASES[i].text)) {
            n_changed++;
            int a = check_bytes(g, CASES[i].text), e = check_bytes(g, esc);
            if (a != e) {
                tap_diag("schema %s: %s gives %d, escaped %s gives %d", CASES[i].schema, CASES[i].text, a, esc, e);
                bad++;
            }
        }
        free(esc);
        gptoss_grammar_free(g);
    }
    tap_check(bad == 0 && n_changed > 60, "grammar: the %zu cases with object keys answer the same with every key character written as a backslash-u escape", n_changed);

    bad = 0;
    for (size_t i = 0; i < sizeof ERRORS / sizeof ERRORS[0]; i++) {
        gptoss_grammar *g = (gptoss_grammar *)1;
        err[0] = 0;
        gptoss_status st = gptoss_grammar_compile_json_schema(NULL, ERRORS[i][0], strlen(ERRORS[i][0]), NULL, &g, err, sizeof err);
        if (st != GPTOSS_ERR_UNSUPPORTED || g != NULL || !strstr(err, ERRORS[i][1])) {
            tap_diag("schema %s: status %d, message '%s', wanted '%s'", ERRORS[i][0], (int)st, err, ERRORS[i][1]);
            bad++;
        }
    }
    tap_check(bad == 0, "grammar: unsupported keywords and unsatisfiable schemas are errors naming keyword and JSON pointer");
    {
        /* prefixes that no continuation can complete are refused where they stop being viable (a
         * mask never leads into a dead end): after a whole enum string, an escape is content, never
         * its closing quote */
        static const char *const DEAD[][2] = {
            {"{\"enum\":[\"yes\",\"no\"]}", "\"yes\\u002"},
            {"{\"enum\":[\"yes\",\"no\"]}", "\"\\u0079\\u0065\\u0073\\u0"},
            {"{\"const\":\"a\\\"\"}", "\"a\\u0022\\u002"},
        };
        int okd = 1;
        for (size_t i = 0; i < sizeof DEAD / sizeof DEAD[0]; i++) {
            gptoss_grammar *g = NULL;
            gptoss_grammar_state *s = NULL;
            int ok = gptoss_grammar_compile_json_schema(NULL, DEAD[i][0], strlen(DEAD[i][0]), NULL, &g, err, sizeof err) == GPTOSS_OK &&
                     gptoss_grammar_state_create(g, &s) == GPTOSS_OK &&
                     gptoss_grammar_state_advance_bytes(s, DEAD[i][1], strlen(DEAD[i][1])) == GPTOSS_ERR_INVALID_ARGUMENT;
            if (!ok) tap_diag("dead-end prefix %s under %s was taken", DEAD[i][1], DEAD[i][0]);
            okd &= ok;
            gptoss_grammar_state_free(s);
            gptoss_grammar_free(g);
        }
        tap_check(okd, "grammar: an escape after a whole enum/const string is refused at its first impossible digit (no dead end)");
    }
    {
        gptoss_grammar *g = (gptoss_grammar *)1;
        gptoss_status st = gptoss_grammar_compile_json_schema(NULL, "{\"type\":", 8, NULL, &g, err, sizeof err);
        tap_check(st == GPTOSS_ERR_FORMAT && g == NULL && strstr(err, "schema:"), "grammar: malformed schema JSON is GPTOSS_ERR_FORMAT (%s)", err);
        gptoss_grammar_free(NULL);
        gptoss_grammar_state_free(NULL);
        gptoss_grammar_vocab_free(NULL);
    }
    /* bounded: deep instance nesting is rejected, not a crash; a recursive schema without a base
     * case compiles and rejects what it cannot finish; a huge enum compiles */
    {
        gptoss_grammar *g = NULL;
        const char *rec = "{\"$ref\":\"#\"}";
        gptoss_status st = gptoss_grammar_compile_json_schema(NULL, rec, strlen(rec), NULL, &g, err, sizeof err);
        int ok = st == GPTOSS_OK && check_bytes(g, "1") == 0;
        gptoss_grammar_free(g);
        g = NULL;
        st = gptoss_grammar_compile_json_schema(NULL, "{}", 2, NULL, &g, err, sizeof err);
        char deep[200];
        memset(deep, '[', 100);
        memset(deep + 100, ']', 99);
        deep[199] = 0;
        ok = ok && st == GPTOSS_OK && check_bytes(g, deep) == 0;
        gptoss_grammar_free(g);
        size_t cap = 20000 * 12 + 64, n = 0;
        char *big = malloc(cap);
        n += (size_t)snprintf(big + n, cap - n, "{\"enum\":[");
        for (int i = 0; i < 20000; i++) n += (size_t)snprintf(big + n, cap - n, "%s\"v%d\"", i ? "," : "", i);
        n += (size_t)snprintf(big + n, cap - n, "]}");
        g = NULL;
        st = gptoss_grammar_compile_json_schema(NULL, big, n, NULL, &g, err, sizeof err);
        ok = ok && st == GPTOSS_OK && check_bytes(g, "\"v19999\"") == 1 && check_bytes(g, "\"v20000\"") == 0;
        gptoss_grammar_free(g);
        free(big);
        tap_check(ok, "grammar: self-recursive $ref, 100-deep nesting and a 20000-value enum are bounded");
    }
    /* hostile schemas: each compiles (or is refused) and matches in bounded time and memory */
    {
        int ok = 1;
        gptoss_grammar *g = NULL;
        /* (a+)+$ is a DFA here: a long near-miss is one pass, not a backtracking blow-up */
        const char *bt = "{\"type\":\"string\",\"pattern\":\"^(a+)+$\"}";
        size_t nt = 100000;
        char *text = malloc(nt + 4);
        text[0] = '"';
        memset(text + 1, 'a', nt);
        memcpy(text + 1 + nt, "!\"", 3);
        ok &= gptoss_grammar_compile_json_schema(NULL, bt, strlen(bt), NULL, &g, err, sizeof err) == GPTOSS_OK && check_bytes(g, text) == 0;
        memcpy(text + 1 + nt, "\"", 2);
        ok &= g && check_bytes(g, text) == 1;
        gptoss_grammar_free(g);
        free(text);
        if (!ok) tap_diag("(a+)+$: %s", err);
        /* 100,000 properties: names are found through a hash index (a linear scan per name took 20 s) */
        size_t cap = 100000 * 16 + 64, n = 0;
        char *big = malloc(cap);
        n += (size_t)snprintf(big + n, cap - n, "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{");
        for (int i = 0; i < 100000; i++) n += (size_t)snprintf(big + n, cap - n, "%s\"p%d\":{}", i ? "," : "", i);
        n += (size_t)snprintf(big + n, cap - n, "},\"required\":[\"p99999\",\"p5\"]}");
        g = NULL;
        int okp = gptoss_grammar_compile_json_schema(NULL, big, n, NULL, &g, err, sizeof err) == GPTOSS_OK && check_bytes(g, "{\"p5\": 1, \"p99999\": 2}") == 1 &&
                  check_bytes(g, "{\"p99999\": 2}") == 0 && check_bytes(g, "{\"p5\": 1, \"p99999\": 2, \"q\": 3}") == 0;
        if (!okp) tap_diag("100000 properties: %s", err);
        ok &= okp;
        gptoss_grammar_free(g);
        /* an enum of 50,000 objects: member orders are bounded by a byte budget, past it the
         * document's order only */
        cap = 50000 * 40 + 64;
        n = 0;
        big = realloc(big, cap);
        n += (size_t)snprintf(big + n, cap - n, "{\"enum\":[");
        for (int i = 0; i < 50000; i++) n += (size_t)snprintf(big + n, cap - n, "%s{\"a\":%d,\"b\":2,\"c\":3,\"d\":4,\"e\":5}", i ? "," : "", i);
        n += (size_t)snprintf(big + n, cap - n, "]}");
        g = NULL;
        int oke = gptoss_grammar_compile_json_schema(NULL, big, n, NULL, &g, err, sizeof err) == GPTOSS_OK &&
                  check_bytes(g, "{\"e\":5,\"d\":4,\"c\":3,\"b\":2,\"a\":0}") == 1 && check_bytes(g, "{\"a\":49999,\"b\":2,\"c\":3,\"d\":4,\"e\":5}") == 1 &&
                  check_bytes(g, "{\"a\":50000,\"b\":2,\"c\":3,\"d\":4,\"e\":5}") == 0;
        if (!oke) tap_diag("enum of 50000 objects: %s", err);
        ok &= oke;
        gptoss_grammar_free(g);
        /* schema nesting past the JSON reader's depth is a format error, not a stack overflow */
        size_t depth = 100000;
        big = realloc(big, depth * 10 + 8);
        n = 0;
        for (size_t i = 0; i < depth; i++) { memcpy(big + n, "{\"items\":", 9); n += 9; }
        big[n++] = '1';
        memset(big + n, '}', depth);
        n += depth;
        g = (gptoss_grammar *)1;
        int okd = gptoss_grammar_compile_json_schema(NULL, big, n, NULL, &g, err, sizeof err) == GPTOSS_ERR_FORMAT && g == NULL;
        if (!okd) tap_diag("100000-deep schema: %s", err);
        ok &= okd;
        /* a $ref cycle with nothing in it, and 10,000 anyOf alternatives (threads are bounded) */
        const char *cyc = "{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}";
        g = NULL;
        ok &= gptoss_grammar_compile_json_schema(NULL, cyc, strlen(cyc), NULL, &g, err, sizeof err) == GPTOSS_OK && check_bytes(g, "1") == 0;
        gptoss_grammar_free(g);
        cap = 10000 * 40 + 64;
        big = realloc(big, cap);
        n = (size_t)snprintf(big, cap, "{\"anyOf\":[");
        for (int i = 0; i < 10000; i++) n += (size_t)snprintf(big + n, cap - n, "%s{\"type\":\"object\",\"required\":[\"k%d\"]}", i ? "," : "", i);
        n += (size_t)snprintf(big + n, cap - n, "]}");
        g = NULL;
        ok &= gptoss_grammar_compile_json_schema(NULL, big, n, NULL, &g, err, sizeof err) == GPTOSS_OK && check_bytes(g, "{\"k0\": 1}") == 1 && check_bytes(g, "[]") == 0;
        gptoss_grammar_free(g);
        free(big);
        tap_check(ok, "grammar: hostile schemas are bounded: (a+)+$ on a 100000-byte near miss, 100000 properties, an enum of 50000 objects, 100000-deep schema nesting, an empty $ref cycle, 10000 anyOf alternatives");
    }

    const char *sh = getenv("GPTOSS_SHARED");
    char path[2048];
    snprintf(path, sizeof path, "%s/vocab/tokenizer.json", sh ? sh : "../shared");
    gptoss_tokenizer *tok = NULL;
    if (gptoss_tokenizer_load(path, &tok, NULL, 0) != GPTOSS_OK) {
        tap_skip("grammar: token masks on o200k_harmony", "no tokenizer.json under GPTOSS_SHARED");
        return tap_exit();
    }
    gptoss_grammar_vocab *v = NULL;
    if (!tap_check(gptoss_grammar_vocab_create(tok, &v, err, sizeof err) == GPTOSS_OK, "grammar: vocab trie of o200k_harmony")) return tap_exit();
    uint32_t *bits = malloc(gptoss_grammar_vocab_mask_words(v) * sizeof *bits);
    static const char *const TOKEN_CASES[][2] = {
        {"{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\",\"minimum\":0},\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a b\",\"c\"]}}},\"required\":[\"name\"],\"additionalProperties\":false}",
         "{\"name\": \"Ann \\\"Lee\\\" \xc3\xa9\xe6\x97\xa5\", \"age\": 42, \"tags\": [\"a b\", \"c\"]}"},
        {"{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}-[0-9]+$\",\"maxLength\":8}", "\"ABC-1234\""},
        {"{\"anyOf\":[{\"type\":\"number\",\"maximum\":100},{\"type\":\"string\",\"format\":\"date\"}]}", "\"2020-12-31\""},
        {"{\"type\":\"object\"}", "{\"free key\": [1.5e3, true, null, {\"x\": \"y\"}]}"},
        /* escaped keys, zero-fraction integers, a const object in another member order */
        {"{\"type\":\"object\",\"properties\":{\"ab\":{\"type\":\"integer\"},\"a\\\"b\":{\"type\":\"integer\",\"maximum\":5},\"\xf0\x9f\x98\x80\":{}},\"additionalProperties\":false}",
         "{\"\\u0061b\": 1.0, \"a\\\"b\": 5.00, \"\\ud83d\\ude00\": null}"},
        {"{\"type\":\"array\",\"items\":{\"type\":\"string\",\"pattern\":\"^[^a]{1,3}$\"}}", "[\"\\ud83d\\ude00\xc3\xa9\", \"\\uD83D\\uDE00\"]"},
        {"{\"enum\":[\"caf\xc3\xa9 \\\"x\\\"\",{\"k\":\"\xf0\x9f\x98\x80\"}]}", "{\"\\u006b\": \"\\uD83D\\uDE00\"}"},
        {"{\"const\":{\"foo\":\"bar\",\"baz\":[1,{\"x\":2,\"y\":3}]}}", "{\"baz\": [1.0, {\"y\": 3, \"x\": 2}], \"foo\": \"bar\"}"},
        {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"},\"patternProperties\":{\"^k\":{\"minimum\":2}}}", "{\"k\\u00e9y\\\\\\n\": 3.0, \"\\u006b\\/\": 2}"},
    };
    /* masks are sampled every 61 ids; escapes are checked on every token with a backslash or
     * made of hex digits (what may continue a backslash-u) */
    uint32_t *esc_ids = malloc(201088 * sizeof *esc_ids);
    size_t n_esc = 0;
    for (uint32_t id = 0; esc_ids && id < 201088; id++) {
        size_t len = 0;
        const char *p = gptoss_tokenizer_is_special(tok, id) ? NULL : gptoss_tokenizer_token_bytes(tok, id, &len);
        int keep = p && len && memchr(p, '\\', len) != NULL;
        if (p && len && len <= 4 && !keep) {
            keep = 1;
            for (size_t k = 0; k < len; k++) keep &= strchr("0123456789abcdefABCDEF", p[k]) != NULL && p[k];
        }
        if (keep) esc_ids[n_esc++] = id;
    }
    int all_ok = 1;
    for (size_t i = 0; i < sizeof TOKEN_CASES / sizeof TOKEN_CASES[0]; i++) {
        gptoss_grammar *g = NULL;
        gptoss_grammar_state *s = NULL;
        gptoss_tokens ids = {0};
        const char *text = TOKEN_CASES[i][1];
        int ok = gptoss_grammar_compile_json_schema(v, TOKEN_CASES[i][0], strlen(TOKEN_CASES[i][0]), NULL, &g, err, sizeof err) == GPTOSS_OK &&
                 gptoss_grammar_state_create(g, &s) == GPTOSS_OK &&
                 gptoss_tokenizer_encode(tok, text, strlen(text), GPTOSS_TOKENIZER_SPECIAL_AS_TEXT, &ids) == GPTOSS_OK;
        for (size_t j = 0; ok && j < ids.n; j++) {
            ok = mask_agrees(s, v, bits, ids.ids + j, 1) && (i < 4 || mask_agrees(s, v, bits, esc_ids, n_esc)) &&
                 (bits[ids.ids[j] / 32] >> (ids.ids[j] % 32) & 1) &&
                 gptoss_grammar_state_advance(s, ids.ids[j]) == GPTOSS_OK;
            if (!ok) tap_diag("case %zu: token %zu (id %u) refused", i, j, ids.ids[j]);
        }
        ok = ok && gptoss_grammar_state_is_complete(s) && mask_agrees(s, v, bits, NULL, 0);
        /* a special token is never in a mask and never advances */
        ok = ok && !(bits[200006 / 32] >> (200006 % 32) & 1) && gptoss_grammar_state_advance(s, 200006) == GPTOSS_ERR_INVALID_ARGUMENT;
        if (!ok) tap_diag("token case %zu failed: %s", i, err);
        all_ok &= ok;
        gptoss_tokens_free(&ids);
        gptoss_grammar_state_free(s);
        gptoss_grammar_free(g);
    }
    tap_check(all_ok && n_esc > 0, "grammar: texts accepted token by token (escaped keys, 1.0 integers, reordered const objects among them); every mask bit agrees with advancing by that token (%zu escape and hex tokens each step)", n_esc);
    free(esc_ids);
    free(bits);
    gptoss_grammar_vocab_free(v);
    gptoss_tokenizer_free(tok);
    return tap_exit();
}
