// One xterm.js terminal per session tab, driven from the Blazor Server circuit: keys and resizes go to .NET
// (TerminalView.OnInput / OnResize), output comes back as bytes through write(). The browser never talks to an agent.
import { Terminal } from '../lib/xterm/xterm.mjs';
import { FitAddon } from '../lib/xterm/addon-fit.mjs';

const stylesheet = new URL('../lib/xterm/xterm.css', import.meta.url).href;

function ensureStylesheet() {
    if (!document.querySelector(`link[href="${stylesheet}"]`)) {
        const link = document.createElement('link');
        link.rel = 'stylesheet';
        link.href = stylesheet;
        document.head.appendChild(link);
    }
}

// Copy and paste as terminal users expect: Ctrl+Shift+C / Ctrl+Shift+V (Ctrl+C stays the interrupt key);
// Ctrl+Shift+ArrowUp leaves the terminal (Tab belongs to the shell) for the session's toolbar.
function keyHandler(session) {
    return event => {
        if (event.type !== 'keydown' || !event.ctrlKey || !event.shiftKey) {
            return true;
        }
        switch (event.code) {
            case 'KeyC':
                session.copy();
                event.preventDefault();
                return false;
            case 'KeyV':
                session.paste();
                event.preventDefault();
                return false;
            case 'ArrowUp':
                session.toolbar?.querySelector('button')?.focus();
                event.preventDefault();
                return false;
            default:
                return true;
        }
    };
}

class Session {
    constructor(element, toolbar, dotnet, label) {
        this.element = element;
        this.toolbar = toolbar;
        this.dotnet = dotnet;
        this.terminal = new Terminal({
            cursorBlink: true,
            convertEol: false,
            scrollback: 5000,
            screenReaderMode: false,
            fontFamily: '"DejaVu Sans Mono", "Liberation Mono", monospace',
            fontSize: 14,
            theme: { background: '#1e1e1e' },
        });
        this.fit = new FitAddon();
        this.terminal.loadAddon(this.fit);
        this.terminal.attachCustomKeyEventHandler(keyHandler(this));
        this.terminal.open(element);
        this.terminal.textarea?.setAttribute('aria-label', `${label}: terminal input`);
        this.terminal.onData(data => this.dotnet?.invokeMethodAsync('OnInput', data));
        this.terminal.onResize(size => this.dotnet?.invokeMethodAsync('OnResize', size.cols, size.rows));
        this.resizeObserver = new ResizeObserver(() => this.fitNow());
        this.resizeObserver.observe(element);
        this.fitNow();
    }

    fitNow() {
        // A hidden tab has no size: keep the last one until it is shown again.
        if (this.element.offsetWidth > 0 && this.element.offsetHeight > 0) {
            this.fit.fit();
        }
    }

    size() {
        return { cols: this.terminal.cols, rows: this.terminal.rows };
    }

    write(bytes) {
        this.terminal.write(bytes);
    }

    writeNotice(text) {
        this.terminal.write(`\r\n\x1b[2m${text}\x1b[0m\r\n`);
    }

    async copy() {
        const text = this.terminal.getSelection();
        if (text) {
            await navigator.clipboard.writeText(text);
        }
        return text.length;
    }

    async paste() {
        const text = await navigator.clipboard.readText();
        if (text) {
            this.terminal.paste(text);
        }
        this.terminal.focus();
    }

    focus() {
        this.terminal.focus();
    }

    dispose() {
        this.resizeObserver.disconnect();
        this.terminal.dispose();
        this.dotnet = null;
    }
}

export function open(element, toolbar, dotnet, label) {
    ensureStylesheet();
    return new Session(element, toolbar, dotnet, label);
}
