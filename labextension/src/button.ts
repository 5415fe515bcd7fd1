/** The panel's small JupyterLab-styled button. */

/** A `<button type="button">` with `label`, tooltip `title` and a click handler. */
export function button(
  label: string,
  title: string,
  onClick: (b: HTMLButtonElement) => void | Promise<void>,
  className = ''
): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `jp-AssistantButton ${className}`.trim();
  b.textContent = label;
  b.title = title;
  b.addEventListener('click', () => void onClick(b));
  return b;
}
