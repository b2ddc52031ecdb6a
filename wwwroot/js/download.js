// Hands bytes the circuit made (a docker context archive) to the browser as a file download.
export async function saveAs(name, type, streamRef) {
    const blob = new Blob([await streamRef.arrayBuffer()], { type });
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    URL.revokeObjectURL(url);
}
