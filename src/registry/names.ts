/**
 * Kubernetes' name and key rules (apimachinery's validation package), as field causes: DNS-1123
 * subdomains and labels, qualified names for label and annotation keys, label values, and the keys of
 * Secret and ConfigMap data. Each check returns the messages Kubernetes gives, so kubectl users see
 * familiar text.
 */
import { dns1035LabelLengthMax, labelValueLengthMax, nameLengthMax, namespaceLengthMax } from '../config/index.ts';

const dns1123LabelPattern = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123Subdomain = new RegExp(`^${dns1123LabelPattern}(\\.${dns1123LabelPattern})*$`);
const dns1123Label = new RegExp(`^${dns1123LabelPattern}$`);
const dns1035LabelPattern = '[a-z]([-a-z0-9]*[a-z0-9])?';
const dns1035Label = new RegExp(`^${dns1035LabelPattern}$`);
const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const configKey = /^[-._a-zA-Z0-9]+$/;

export function dns1123SubdomainErrors(value: string): string[] {
  const errors: string[] = [];
  if (value.length > nameLengthMax) errors.push(`must be no more than ${nameLengthMax} characters`);
  if (!dns1123Subdomain.test(value)) {
    errors.push(`a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '${dns1123LabelPattern}(\\.${dns1123LabelPattern})*')`);
  }
  return errors;
}

export function dns1123LabelErrors(value: string): string[] {
  const errors: string[] = [];
  if (value.length > namespaceLengthMax) errors.push(`must be no more than ${namespaceLengthMax} characters`);
  if (!dns1123Label.test(value)) {
    errors.push(`a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex used for validation is '${dns1123LabelPattern}')`);
  }
  return errors;
}

/** A DNS-1035 label (an API version's version part): as a DNS-1123 label, but starting with a letter. */
export function dns1035LabelErrors(value: string): string[] {
  const errors: string[] = [];
  if (value.length > dns1035LabelLengthMax) errors.push(`must be no more than ${dns1035LabelLengthMax} characters`);
  if (!dns1035Label.test(value)) {
    errors.push(`a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name', or 'abc-123', regex used for validation is '${dns1035LabelPattern}')`);
  }
  return errors;
}

/**
 * A kind as an owner reference names it: letters, digits and '-', starting with a letter and ending with a
 * letter or digit — a DNS-1035 label once lowercased, as Kubernetes requires of a CustomResourceDefinition's kind.
 */
export function kindErrors(value: string): string[] {
  const errors: string[] = [];
  if (value.length > dns1035LabelLengthMax) errors.push(`must be no more than ${dns1035LabelLengthMax} characters`);
  if (!dns1035Label.test(value.toLowerCase())) {
    errors.push(`a kind must consist of alphanumeric characters or '-', start with a letter, and end with an alphanumeric character (e.g. 'ConfigMap')`);
  }
  return errors;
}

/**
 * Names of RBAC objects follow Kubernetes' path-segment rule (they may hold ':' as in
 * `system:discovery`): not empty, not "." or "..", no '/' or '%', at most nameLengthMax.
 */
export function pathSegmentNameErrors(value: string): string[] {
  if (value === '.' || value === '..') return [`may not be '${value}'`];
  const errors: string[] = [];
  if (value.length > nameLengthMax) errors.push(`must be no more than ${nameLengthMax} characters`);
  if (/[/%]/.test(value)) errors.push(`may not contain '/' or '%'`);
  // Control characters would make keys and log lines ambiguous.
  if (hasControlCharacter(value)) errors.push('may not contain control characters');
  return errors;
}

/** A label or annotation key: an optional DNS subdomain prefix and '/', then a name of at most 63 characters. */
export function qualifiedNameErrors(key: string): string[] {
  const parts = key.split('/');
  let name = key;
  const errors: string[] = [];
  if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    name = parts[1] ?? '';
    if (prefix === '') errors.push('prefix part must be non-empty');
    else for (const e of dns1123SubdomainErrors(prefix)) errors.push(`prefix part ${e}`);
  } else if (parts.length > 2) {
    return [`a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  }
  if (name === '') errors.push('name part must be non-empty');
  else if (name.length > labelValueLengthMax) errors.push(`name part must be no more than ${labelValueLengthMax} characters`);
  if (name !== '' && !qualifiedNamePart.test(name)) {
    errors.push(`name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc')`);
  }
  return errors;
}

export function labelValueErrors(value: string): string[] {
  const errors: string[] = [];
  if (value.length > labelValueLengthMax) errors.push(`must be no more than ${labelValueLengthMax} characters`);
  if (!labelValue.test(value)) {
    errors.push(`a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
  }
  return errors;
}

/** Keys of Secret and ConfigMap data: `[-._a-zA-Z0-9]+`, not "." or "..", at most nameLengthMax. */
export function configMapKeyErrors(key: string): string[] {
  const errors: string[] = [];
  if (key.length > nameLengthMax) errors.push(`must be no more than ${nameLengthMax} characters`);
  if (!configKey.test(key)) errors.push(`a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name', or 'KEY_NAME', or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`);
  if (key === '.' || key === '..') errors.push(`must not be '${key}'`);
  return errors;
}

/** True if `value` holds a C0 control character or DEL. */
export function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
