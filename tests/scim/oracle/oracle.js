'use strict';
// The independent side of the SCIM differential tests: scim2-parse-filter (RFC 7644 §3.4.2.2
// filters) and scim-patch (§3.5.2 PATCH), run over a whole corpus in one process.
//
//   node oracle.js filter REQUEST.json  {filters: [text], resources: [object]}
//       -> [{ok: true, matches: [index of each matching resource]} | {ok: false, error}]
//   node oracle.js patch REQUEST.json   {cases: [{resource, patch}]}
//       -> [{ok: true, result} | {ok: false, error}]

const fs = require('fs');
const { parse, filter } = require('scim2-parse-filter');
const { patchBodyValidation, scimPatch } = require('scim-patch');

function runFilters(request) {
  return request.filters.map((text) => {
    try {
      const test = filter(parse(text));
      const matches = [];
      request.resources.forEach((resource, index) => {
        if (test(resource)) matches.push(index);
      });
      return { ok: true, matches };
    } catch (error) {
      return { ok: false, error: String(error && error.message ? error.message : error) };
    }
  });
}

function runPatches(request) {
  return request.cases.map(({ resource, patch }) => {
    try {
      patchBodyValidation(patch);
      // treatMissingAsAdd off: RFC 7644 §3.5.2.3 wants noTarget for a replace that selects nothing.
      const result = scimPatch(resource, patch.Operations, { mutateDocument: false, treatMissingAsAdd: false });
      return { ok: true, result };
    } catch (error) {
      return { ok: false, error: String(error && error.message ? error.message : error) };
    }
  });
}

const [command, file] = process.argv.slice(2);
const request = JSON.parse(fs.readFileSync(file, 'utf8'));
const handlers = { filter: runFilters, patch: runPatches };
if (!handlers[command]) {
  process.stderr.write(`unknown command ${command}\n`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(handlers[command](request)));
